"""The rewriter's user-facing error: one line, exit code 2, nothing presented as a result.

:class:`RewriteError` is an :class:`ivm.IvmError`, so the ``ivm`` command line prints it as
``error: ...`` and exits with code 2 like every other user mistake.
"""
from __future__ import annotations

from ivm.errors import IvmError


class RewriteError(IvmError):
    """Bad input or an unusable model endpoint; the message is one line and is shown as is."""


def first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Problem(Exception):
    """Why a model answer is not (yet) acceptable; goes back to the model in the repair prompt.

    ``kind`` is one of ``answer`` (not the JSON asked for), ``static`` (SQL that does not parse, is not a
    read-only view, reads unknown tables, columns or functions), ``udf``, ``duckdb`` (an error while running
    the views), ``diff`` (the views run but their result differs from the script's) and ``deploy`` (ivm cannot
    deploy the views).
    """

    def __init__(self, kind: str, message: str, *, dataset: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.dataset = dataset
