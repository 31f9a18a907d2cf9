"""A progress bar for long fetches (`tracker backfill`): Rich, on stderr, only on a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tracker.daily.backfill import Page
from tracker.errors import SourceError


class ProgressBar:
    """A Rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def plan(self, days: int, requests: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(
                f"{self.label}: {requests} request(s)", total=max(days, 1)
            )

    def page(self, page: Page) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                advance=page.days,
                description=f"{self.label}: {page.window.last}, {page.added:,} added",
            )

    def wait(self, seconds: float, error: SourceError) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, description=f"{self.label}: {error.reason}, waiting {seconds:.0f} s"
            )

    @contextmanager
    def running(self) -> Iterator[ProgressBar]:
        if not self.enabled:
            yield self
            return
        with rich_bar("days") as progress:  # its description can carry a server's error text
            self._progress = progress
            try:
                yield self
            finally:
                self._progress = None


@contextmanager
def rich_bar(unit: str, *, elapsed: bool = False) -> Iterator[Any]:
    """A transient Rich progress on stderr: the task's description (never read as markup), a
    bar, ``done/total UNIT``, and the time remaining (or, with ``elapsed``, the time taken)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn() if elapsed else TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield progress


class TableBars:
    """`db copy`'s progress: a bar per table, in rows (``progress`` from ``rich_bar``, or
    None off a terminal: then silent)."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def table(self, name: str, rows: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(name, total=max(rows, 1))

    def advance(self, rows: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=rows)
