"""The ``ivm`` command's entry point, kept free of imports.

Loading DuckDB, sqlglot and click takes a few tenths of a second; Ctrl-C in that time raised
KeyboardInterrupt inside some library's module and printed its traceback, before ivm's own handling
(:func:`ivm.cli.main`) existed. Nothing has changed at that point, and the message says so."""
import sys


def main(argv=None) -> None:
    """Run the command line (:func:`ivm.cli.main`), loading it under a guard against Ctrl-C."""
    try:
        from ivm.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: ivm was still starting; nothing changed\n")
        raise SystemExit(130) from None
    run(argv)
