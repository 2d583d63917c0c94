"""The one exception type for mistakes a user can fix.

The CLI turns an :class:`IvmError` into a one-line message and exit code 2; anything else is a bug in
ivm and keeps its traceback so that it can be reported.
"""
import duckdb


class IvmError(Exception):
    """A user error: bad SQL, an unknown name, a locked file. The message is shown as is."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none): errors from DuckDB, sqlglot
    and the user's code are reported in one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def interrupted(error: BaseException) -> bool:
    """Ctrl-C: a KeyboardInterrupt, or DuckDB's RuntimeError('Query interrupted') when it came during a query."""
    return isinstance(error, KeyboardInterrupt) or isinstance(error, RuntimeError) \
        and not isinstance(error, duckdb.Error) and "interrupted" in str(error).lower()


def as_interrupt(error: BaseException, note: str) -> BaseException:
    """``error`` with ``note`` (what happened to the change). DuckDB reports Ctrl-C during a query as
    RuntimeError('Query interrupted'): that is an interrupt too."""
    if interrupted(error) and not isinstance(error, KeyboardInterrupt):
        error = KeyboardInterrupt()
    error.add_note(note)
    return error
