"""The ``ivm`` command's entry point, kept free of imports.

Loading DuckDB, sqlglot and click takes a few tenths of a second; Ctrl-C in that time raised
KeyboardInterrupt inside some library's module and printed its traceback, before ivm's own handling
(:func:`ivm.cli.main`) existed. Nothing has changed at that point, and the message says so. SIGTERM (a timeout,
a service stop) in that time ended the process without a word; it now unwinds like Ctrl-C, as it does later."""
import signal
import sys
import threading


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv=None) -> None:
    """Run the command line (:func:`ivm.cli.main`), loading it under a guard against Ctrl-C and SIGTERM."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        from ivm.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: ivm was still starting; nothing changed\n")
        raise SystemExit(130) from None
    run(argv)
