"""Comparing parameter values; secrets compared by keyed hash, never shown.

In git a secret is ``{secret: NAME}``.  For planning and storage it becomes a
*sealed* reference ``{"secret": NAME, "digest": HMAC-SHA256(key, value)}``
(``digest`` is ``None`` where the value cannot be resolved, e.g. in CI): the
plain value exists only inside the engine, at the moment a job is sent.
The digest is only as safe as its key: without the key, a digest of even a
4-digit PIN reveals nothing, with it every guess can be tested.  So the key is
never stored beside the digests (the state store keeps it in a file of its
own, outside the database).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

SecretDigest = Callable[[str], str | None]
"""NAME -> keyed hash of the resolved secret value, or ``None`` when it cannot be resolved."""

SECRET_SHOWN = "(secret)"


def no_secrets(name: str) -> str | None:
    """A :data:`SecretDigest` for planning without access to secret values."""
    return None


def keyed_digest(key: bytes, value: str) -> str:
    """HMAC-SHA256 of a secret value under the store's key; safe to persist where the key is not."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and "secret" in value


def seal(value: Any, digest: SecretDigest) -> Any:
    """A git value ready for comparison: secret references get their digest."""
    if is_secret(value):
        name = value["secret"]
        return {"secret": name, "digest": digest(name)}
    return value


def same(a: Any, b: Any) -> bool:
    """Whether two configured values are equal; sealed secrets by digest, else by name."""
    if is_secret(a) or is_secret(b):
        if not (is_secret(a) and is_secret(b)):
            return False
        if a.get("digest") is not None and b.get("digest") is not None:
            return bool(hmac.compare_digest(a["digest"], b["digest"]))
        return bool(a["secret"] == b["secret"])
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    return bool(a == b)


def shown(value: Any) -> Any:
    """A value as plans and reports may show it: secrets masked."""
    return SECRET_SHOWN if is_secret(value) else value
