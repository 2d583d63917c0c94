"""The one exception type for mistakes a user can fix.

The CLI turns an :class:`IvmError` into a one-line message and exit code 2; anything else is a bug in
ivm and keeps its traceback so that it can be reported.
"""
import signal
import threading
from typing import Callable

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


def commit(con, done: Callable[[], None] | None = None) -> None:
    """COMMIT with Ctrl-C and SIGTERM held until it has returned or failed, then delivered; ``done()`` runs
    when it has committed, before any held signal is delivered.

    DuckDB finishes a COMMIT that Ctrl-C interrupts and then raises RuntimeError('Query interrupted'), so the
    caller cannot tell a committed change from a rolled-back one, and said "rolled back" for changes that were
    in the file (a deployed view no handle maintained, a dropped view a handle still listed). Held, the signal
    arrives after the COMMIT, and ``done`` has told the caller whether it committed; a COMMIT that fails
    still delivers it (the change is rolled back, and the user asked to stop). Only the main thread can set
    signal handlers (and only there does Python run them); elsewhere the COMMIT runs as is."""
    if threading.current_thread() is not threading.main_thread():
        con.commit()
        if done is not None:
            done()
        return
    held: list[int] = []
    signals = [s for s in (signal.SIGTERM, signal.SIGINT) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda number, frame: held.append(number)) for s in signals}
    try:
        con.commit()
        if done is not None:
            done()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in signals:  # SIGTERM first: its handler may end the process, Ctrl-C's raises
            if number in held:
                signal.raise_signal(number)
