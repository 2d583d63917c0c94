"""Entries of the plan cache are signed with a key only this user can read.

Plans and statement texts read back from a database file are turned into SQL that ivm runs, and a sqlglot
tree can render as any text (a function name is written out as it is stored). A file someone else changed
could then make ivm run a COPY or an ATTACH. So every entry is stored with an HMAC under a random key kept in
the user's cache directory (created on first use, readable by the user only), and an entry whose signature
does not check, such as one written on another machine, by another user, or by anything but ivm, is not
read: the view is planned again from its SQL (which :mod:`ivm.store.catalog` checks is one query).

``IVM_KEY_FILE`` names the key file (default ``$XDG_CACHE_HOME/ivm/plan-cache.key``, else
``~/.cache/ivm/plan-cache.key``). Where no key can be read or made, nothing is stored or read: every open plans.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

SEPARATOR = "#"  # between an entry's key and its signature in the stored key column


def key_file() -> Path:
    named = os.environ.get("IVM_KEY_FILE", "").strip()
    if named:
        return Path(named).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache) if cache else Path.home() / ".cache") / "ivm" / "plan-cache.key"


def secret() -> bytes | None:
    """This user's key, made on first use; None where it cannot be read or made."""
    try:
        return _secret(str(key_file()))
    except RuntimeError:  # no home directory to find
        return None


@functools.lru_cache(maxsize=None)
def _secret(path: str) -> bytes | None:
    found = _read(Path(path))
    if found is not None:
        return found
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, target)  # whole or not at all; another process may have made it first
        except FileExistsError:
            pass
        finally:
            draft.unlink(missing_ok=True)
    except OSError:
        return None
    return _read(target)


def _read(path: Path) -> bytes | None:
    try:
        value = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if len(value) == 32 else None


def signed(name: str, key: str, text: str) -> str | None:
    """The key column for entry ``name``: ``key`` and the signature of the whole entry; None without a key."""
    mac = _mac(name, key, text)
    return None if mac is None else f"{key}{SEPARATOR}{mac}"


def verified(name: str, stored_key: str | None, text: str | None) -> str | None:
    """The entry's key if its signature checks, else None."""
    if not stored_key or text is None or SEPARATOR not in stored_key:
        return None
    key, _, mac = stored_key.rpartition(SEPARATOR)
    expected = _mac(name, key, text)
    return key if expected is not None and hmac.compare_digest(mac, expected) else None


def _mac(name: str, key: str, text: str) -> str | None:
    value = secret()
    if value is None:
        return None
    return hmac.new(value, json.dumps([name, key, text]).encode(), hashlib.sha256).hexdigest()
