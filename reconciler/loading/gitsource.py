"""Config files read from a git commit's objects, never from a working tree.

Used by ``reconciler plan --base REV`` (both sides of a pull request) and by
the daemon (every new commit).  Blob ids make a natural cache key: a file
whose blob did not change between two commits is not parsed again.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import git
from git.objects import Blob, Tree

from reconciler.errors import GitSourceError as GitSourceError
from reconciler.loading.sources import YAML_SUFFIXES, SourceError
from reconciler.loading.yamlfiles import MAX_FILE_BYTES

_SYMLINK_MODE = 0o120000


class GitSource:
    """The files of one commit.  Symlinks are followed only while they stay inside the tree."""

    def __init__(self, repo: git.Repo | str | Path, rev: str = "HEAD") -> None:
        try:
            self.repo = repo if isinstance(repo, git.Repo) else git.Repo(repo)
            self.commit = self.repo.commit(rev)
        except (git.exc.InvalidGitRepositoryError, git.exc.NoSuchPathError) as exc:
            raise GitSourceError(f"{repo}: not a git repository") from exc
        except (git.exc.BadName, ValueError, git.exc.GitCommandError) as exc:
            raise GitSourceError(f"unknown revision '{rev}'") from exc
        self.tree: Tree = self.commit.tree
        self._blobs: dict[str, Blob] = {}

    @property
    def sha(self) -> str:
        return str(self.commit.hexsha)

    def _folder(self, folder: str) -> Tree | None:
        try:
            found = self.tree / folder
        except KeyError:
            return None
        return found if isinstance(found, Tree) else None

    def list(self, folder: str, *, recursive: bool) -> list[str]:
        base = self._folder(folder)
        if base is None:
            return []
        found: list[str] = []
        stack = [base]
        while stack:
            tree = stack.pop()
            for blob in tree.blobs:
                name = blob.name
                if name.endswith(YAML_SUFFIXES) and not name.startswith("."):
                    path = str(blob.path)
                    self._blobs[path] = blob
                    found.append(path)
            if recursive:
                stack.extend(t for t in tree.trees if not t.name.startswith("."))
        return sorted(found)

    def _blob(self, path: str) -> Blob:
        blob = self._blobs.get(path)
        if blob is None:
            try:
                item = self.tree / path
            except KeyError:
                raise SourceError("no such file in the commit") from None
            if not isinstance(item, Blob):
                raise SourceError("not a file")
            blob = item
        return blob

    def read(self, path: str) -> bytes:
        blob = self._blob(path)
        for _ in range(8):
            if blob.mode != _SYMLINK_MODE:
                break
            target = blob.data_stream.read().decode("utf-8", "replace")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(blob.path), target))
            if target.startswith("/") or resolved.startswith("../") or resolved == "..":
                raise SourceError(f"symlink points outside the repository (to {target})")
            blob = self._blob(resolved)
        else:
            raise SourceError("too many levels of symlinks")
        if blob.size > MAX_FILE_BYTES:
            return b"\0" * (MAX_FILE_BYTES + 1)  # the size check reports it; don't read it
        return bytes(blob.data_stream.read())

    def blob_id(self, path: str) -> str | None:
        return str(self._blob(path).hexsha)
