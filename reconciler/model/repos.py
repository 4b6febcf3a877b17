"""A loaded config repository: profiles, gateway declarations, catalog and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.model.catalogs import Catalog
from reconciler.model.diagnostics import Diagnostic
from reconciler.model.files import GatewayEntry, ProfileFile


@dataclass
class Repo:
    """Everything the planner needs from one commit (or working tree) of a config repo.

    ``profile_files`` and ``gateway_files`` map names and ids to the file that
    declared them (relative paths), for reports and error messages.
    """

    catalog: Catalog
    profiles: dict[str, ProfileFile] = field(default_factory=dict)
    gateways: dict[str, GatewayEntry] = field(default_factory=dict)
    profile_files: dict[str, str] = field(default_factory=dict)
    gateway_files: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files_checked: int = 0
    members: dict[str, list[str]] = field(default_factory=dict)
    """Gateway ids per profile name."""
    entries_by_file: dict[str, tuple[GatewayEntry, ...]] = field(default_factory=dict)
    """The valid entries of each gateways file; unchanged files keep the same tuple between loads."""

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)
