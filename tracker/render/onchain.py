"""On-chain history's outputs: a holding's on-chain cell and JSON object in `tracker history`,
what `tracker verify --history` did (table, JSON, CSV), and its progress bar on a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tracker.money import sats_to_btc
from tracker.onchain_series import HistoryRun
from tracker.render import renders
from tracker.render.text import BOUND_MARK, csv_text, grouped, plain

if TYPE_CHECKING:
    from tracker.daily.history import Holding

ONCHAIN_NOTE = (
    "On-chain: the holder's addresses' confirmed balance on the period's last synced day "
    "(tracker verify --history); ≥ where its address list may be incomplete."
)


def onchain_text(h: Holding) -> str:
    if h.onchain_btc is None:
        return "—"
    return f"{BOUND_MARK[h.onchain_bound] if h.onchain_bound else ''}{grouped(h.onchain_btc)}"


def onchain_value_text(h: Holding) -> str:
    if h.onchain_value is None:
        return "—"
    return f"{BOUND_MARK[h.onchain_bound] if h.onchain_bound else ''}{grouped(h.onchain_value, 2)}"


def onchain_dict(h: Holding) -> dict[str, Any] | None:
    """A holding's ``onchain`` object (None: no balance stored for that period)."""
    if h.onchain_sats is None or h.onchain_as_of is None:
        return None
    return {
        "btc": plain(h.onchain_btc),
        "bound": None if h.onchain_bound is None else h.onchain_bound.value,
        "as_of": h.onchain_as_of.isoformat(),
        "value": None if h.onchain_value is None else format(h.onchain_value, "f"),
    }


# --- what `tracker verify --history` did ----------------------------------------------------

RUN_FIELDS = (
    "holder", "addresses", "requests", "received", "added", "from", "to", "btc", "error",
)  # fmt: skip


def run_dict(run: HistoryRun) -> dict[str, Any]:
    return {
        "explorer": run.explorer,
        "height": run.height,
        "ok": run.ok,
        "error": run.error,
        "holders": [
            {
                "holder": h.slug,
                "addresses": h.addresses,
                "requests": h.requests,
                "received": h.received,
                "added": h.added,
                "from": None if h.first is None else h.first.isoformat(),
                "to": None if h.last is None else h.last.isoformat(),
                "btc": None if h.sats is None else plain(sats_to_btc(h.sats)),
                "error": h.error,
            }
            for h in run.holders
        ],
        "not_reached": list(run.skipped),
    }


@renders(HistoryRun, "json")
def render_run_json(run: HistoryRun, **_: Any) -> str:
    return json.dumps(run_dict(run), indent=2, ensure_ascii=False) + "\n"


@renders(HistoryRun, "csv")
def render_run_csv(run: HistoryRun, **_: Any) -> str:
    return csv_text(RUN_FIELDS, run_dict(run)["holders"])


@renders(HistoryRun, "table")
def render_run_text(run: HistoryRun, **_: Any) -> str:
    if run.explorer is None and run.ok:
        return "No holder has addresses: nothing to rebuild (tracker addresses add).\n"
    lines = []
    if run.explorer is not None:
        lines.append(f"On-chain history from {run.explorer} at height {run.height:,}:")
    for h in run.holders:
        if h.error is not None:
            lines.append(f"  {h.slug}: stopped ({h.added:,} new transaction(s) kept)")
            continue
        head = (
            f"  {h.slug}: {h.addresses} address(es), {h.requests:,} request(s), "
            f"{h.received:,} transaction(s), {h.added:,} new"
        )
        lines.append(head)
        if h.first is None or h.sats is None:
            lines.append("    no confirmed transaction: no series")
        else:
            btc = grouped(sats_to_btc(h.sats))
            lines.append(f"    daily balance {h.first} to {h.last}: {btc} BTC on {h.last}")
    if run.skipped:
        lines.append(f"  not reached: {', '.join(run.skipped)}")
    return "\n".join(lines) + "\n" if lines else ""  # the CLI says an error on stderr


# --- the progress bar -------------------------------------------------------------------------


class HistoryProgress:
    """A Rich progress bar on stderr, one step per address, when stderr is a terminal;
    silent otherwise (onchain_history.Progress)."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._txs = 0

    def start(self, addresses: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task("on-chain history", total=max(addresses, 1))

    def fetched(self, label: str, txs: int) -> None:
        self._txs += txs
        if self._progress is not None and self._task is not None:
            said = f"{label}: {self._txs:,} transaction(s)"
            self._progress.update(self._task, description=said)

    def done(self, label: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=1)

    @contextmanager
    def running(self) -> Iterator[HistoryProgress]:
        if not self.enabled:
            yield self
            return
        from tracker.render.progress import rich_bar

        with rich_bar("addresses", elapsed=True) as progress:  # descriptions carry addresses
            self._progress = progress
            try:
                yield self
            finally:
                self._progress = None
