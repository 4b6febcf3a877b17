"""Diagnostics: one located problem of a config repository, as users and CI see it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True, order=True)
class Diagnostic:
    """``file:line:column: severity: message``; file is relative to the repository root."""

    file: str
    line: int
    column: int
    code: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
