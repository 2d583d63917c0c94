"""Progress of long commands (deploying, recomputing and verifying many or large views) on stderr.

The engine reports ``(done, total, label)`` through an optional callback and knows nothing of terminals; the
CLI turns the reports into a rich progress bar on stderr when stderr is a terminal, so piped output, JSON
reports and logs stay clean.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Optional, TypeVar

Report = Callable[[int, int, str], None]
Item = TypeVar("Item")


def reported(items: Iterable[Item], report: Report | None, label: Callable[[Item], str] = str) -> Iterator[Item]:
    """``items``, reporting ``(done, total, label(item))`` before each one when ``report`` is given, and
    ``(total, total, label(last))`` once the last is done (a bar stopped at 3/4 otherwise).

    Example:
        >>> list(reported(["a", "b"], lambda *r: print(r)))
        (0, 2, 'a')
        (1, 2, 'b')
        (2, 2, 'b')
        ['a', 'b']
    """
    items = list(items)
    for position, item in enumerate(items):
        if report:
            report(position, len(items), label(item))
        yield item
    if report and items:
        report(len(items), len(items), label(items[-1]))


@contextmanager
def terminal_bar(command: str, enabled: bool | None = None) -> Iterator[Optional[Report]]:
    """A report callback drawing a transient bar on stderr, or None when stderr is not a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:<48}", markup=False), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task(command, total=None)

    def report(done: int, total: int, label: str) -> None:
        bar.update(task, completed=done, total=total, description=f"{command} {label}"[:48])

    with bar:
        yield report
