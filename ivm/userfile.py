"""Load a Python file the user wrote (UDFs for views, UDF features) as a module.

Their code may fail in any way while it loads; that is the user's mistake to fix, reported in one line.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

from ivm.errors import IvmError


def load_module(path: Path, what: str) -> ModuleType:
    """Execute ``path`` as a fresh module; ``what`` begins the error message ("cannot load UDF file x")."""
    name = f"ivm_user_{abs(hash(str(path.resolve())))}"
    # an explicit loader: a file not named *.py (udfs.txt) is Python all the same
    spec = importlib.util.spec_from_loader(name, importlib.machinery.SourceFileLoader(name, str(path)))
    module = importlib.util.module_from_spec(spec)
    module.__file__ = str(path)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's own code
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise IvmError(f"{what}: {type(error).__name__}: {message}") from None
    return module


def read_text(path: Path, what: str) -> str:
    """The text of a file the user wrote (views, a feature spec), which must be UTF-8 (ASCII is)."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is no SQL
    except UnicodeDecodeError as error:
        raise IvmError(f"{what} {path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
                       f"{error.start}); save it as UTF-8") from None
    except OSError as error:
        raise IvmError(f"cannot read {what} {path}: {error.strerror or error}") from None
