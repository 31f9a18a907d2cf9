"""`tracker verify --history`: each live address's confirmed transactions fetched from an
explorer and stored (``address_txs``), then each holder's daily on-chain balance rebuilt from
them (``onchain_daily``).

Per address, mempool's ``/api/address/:a/txs/summary`` when the explorer answers it (one request;
a 404 means it has none, as blockstream.info), else, or when the summary is at its cap, pages of
``/api/address/:a/txs`` then ``/txs/chain/:last_seen_txid``, newest first. The tip height is read
before anything else, and ``addresses.synced_height`` is set to it once an address's
transactions are all stored: a re-run pages only down to that height (a summary is fetched whole
again; rows already stored are ignored), and a run cut short keeps every page it stored.

A holder's daily series holds every UTC day from its addresses' first transaction to the day of
the run (each day: the balance at its end, the live addresses summed; today's as of the tip), and
is replaced whole in one transaction, only when every live address of the holder synced: running
twice stores the same series; an explorer failing mid-way leaves the previous one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Engine

from tracker.clock import utc_today
from tracker.errors import SourceError
from tracker.onchain_series import (
    CHAIN_PAGE,
    SUMMARY_CAP,
    BadAnswer,
    DayBalance,
    HistoryRun,
    HolderHistory,
    parse_page,
    parse_summary,
)
from tracker.onchain_store import Target, store_series, store_txs, targets

if TYPE_CHECKING:
    from tracker.config import Settings
    from tracker.explorers import Explorer

SUMMARY_PATH = "/api/address/{a}/txs/summary"
TXS_PATH = "/api/address/{a}/txs"
CHAIN_PATH = "/api/address/{a}/txs/chain/{txid}"
MAX_PAGES = 100_000  # 2.5 million transactions: an explorer paging past this is looping


class Reader(Protocol):
    """One explorer, as this module uses it (ExplorerReader over tracker.explorers.Explorer)."""

    name: str

    async def tip_height(self) -> int: ...

    async def get(self, path: str, *, address: str) -> Any: ...


class ExplorerReader:
    """tracker.explorers.Explorer as a Reader: its rate limiter, retries and refusals."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        self.name = explorer.name

    async def tip_height(self) -> int:
        height, _ = await self.explorer.tip_height()
        return height

    async def get(self, path: str, *, address: str) -> Any:
        payload, _ = await self.explorer.get(path, address=address)
        return payload


class Progress(Protocol):
    """Told as the run goes (render.onchain.HistoryProgress draws it on a terminal)."""

    def start(self, addresses: int) -> None: ...

    def fetched(self, label: str, txs: int) -> None: ...

    def done(self, label: str) -> None: ...


class NoProgress:
    def start(self, addresses: int) -> None:
        pass

    def fetched(self, label: str, txs: int) -> None:
        pass

    def done(self, label: str) -> None:
        pass


@dataclass
class _Count:
    requests: int = 0
    received: int = 0
    added: int = 0


# --- fetching -----------------------------------------------------------------------------


def _is_404(error: SourceError) -> bool:
    return error.outcome == "http_error" and error.reason.startswith("HTTP 404")


async def _sync_address(
    engine: Engine,
    reader: Reader,
    address: tuple[int, str, int | None],
    tip: int,
    *,
    summary: dict[str, bool],
    count: _Count,
    progress: Progress,
    label: str,
) -> None:
    address_id, text, synced = address
    if summary.get(reader.name, True):
        try:
            payload = await reader.get(SUMMARY_PATH.format(a=text), address=text)
        except SourceError as e:
            if not _is_404(e):
                raise
            summary[reader.name] = False  # this explorer has no summary: page from now on
        else:
            count.requests += 1
            effects = parse_summary(payload)
            if len(payload) < SUMMARY_CAP:
                count.received += len(effects)
                count.added += store_txs(engine, address_id, effects, tip)
                progress.fetched(label, len(effects))
                return
    path = TXS_PATH.format(a=text)
    cursors: set[str] = set()
    for _ in range(MAX_PAGES):
        payload = await reader.get(path, address=text)
        count.requests += 1
        page = parse_page(payload, text)
        count.received += page.confirmed
        count.added += store_txs(engine, address_id, page.effects, None)
        progress.fetched(label, page.confirmed)
        older = synced is not None and any(e.height <= synced for e in page.effects)
        if page.confirmed < CHAIN_PAGE or page.last_txid is None or older:
            break
        if page.last_txid in cursors:
            raise BadAnswer(f"txs/chain/{page.last_txid}: the explorer pages in a loop")
        cursors.add(page.last_txid)
        path = CHAIN_PATH.format(a=text, txid=page.last_txid)
    else:
        raise BadAnswer(f"{text}: more than {MAX_PAGES} pages of transactions")
    store_txs(engine, address_id, (), tip)


def _done(
    target: Target, count: _Count, series: Sequence[DayBalance], *, error: str | None = None
) -> HolderHistory:
    return HolderHistory(
        target.slug,
        len(target.addresses),
        count.requests,
        count.received,
        count.added,
        first=series[0].day if series else None,
        last=series[-1].day if series else None,
        sats=series[-1].sats if series else None,
        error=error,
    )


async def _first_tip(readers: Sequence[Reader]) -> tuple[Reader | None, int | None, list[str]]:
    """The first explorer that answers its tip height, and why the ones before it did not."""
    failed = []
    for reader in readers:
        try:
            height = await reader.tip_height()
        except SourceError as e:
            failed.append(str(e))
            continue
        return reader, height, failed
    return None, None, failed


async def rebuild(
    engine: Engine,
    readers: Sequence[Reader],
    chosen: Sequence[Target],
    progress: Progress,
    *,
    today: dt.date,
) -> HistoryRun:
    """Sync the addresses of ``chosen`` from the first explorer that answers, then rebuild each
    holder's series; stops at the first error, keeping what was stored."""
    reader, tip, failed = await _first_tip(readers)
    if reader is None or tip is None:
        said = "; ".join(failed) or "no explorer is enabled ([explorers.*] enabled = true)"
        return HistoryRun(None, None, error=f"no explorer answered its tip height: {said}")
    progress.start(sum(len(t.addresses) for t in chosen))
    summary: dict[str, bool] = {}
    done: list[HolderHistory] = []
    for n, target in enumerate(chosen):
        count = _Count()
        try:
            for address in target.addresses:
                label = f"{target.slug} {address[1]}"
                await _sync_address(
                    engine, reader, address, tip,
                    summary=summary, count=count, progress=progress, label=label,
                )  # fmt: skip
                progress.done(label)
            series = store_series(engine, target.holder_id, today)
        except (SourceError, BadAnswer) as e:
            where = e if isinstance(e, SourceError) else f"{reader.name}: {e}"
            error = (
                f"{target.slug}: {where}; its {count.added:,} new transaction(s) are kept, "
                "its daily series is unchanged: run it again to resume"
            )
            done.append(_done(target, count, (), error=error))
            skipped = tuple(t.slug for t in chosen[n + 1 :])
            return HistoryRun(reader.name, tip, tuple(done), error=error, skipped=skipped)
        done.append(_done(target, count, series))
    return HistoryRun(reader.name, tip, tuple(done))


def rebuild_onchain_history(
    settings: Settings,
    engine: Engine,
    holders: list[str] | None,
    progress: Progress | None = None,
    *,
    today: dt.date | None = None,
) -> HistoryRun:
    """The CLI's entry: the holders' (default: every holder with addresses) on-chain history
    rebuilt from the enabled explorers (config order; the first that answers is read)."""
    from tracker.explorers import make_explorers
    from tracker.sources.http import make_client

    chosen = targets(engine, holders)
    if not chosen:
        return HistoryRun(None, None)

    async def go() -> HistoryRun:
        async with make_client() as client:
            explorers = make_explorers(settings.explorers, settings.fetch, client)
            readers = [ExplorerReader(e) for e in explorers]
            return await rebuild(
                engine, readers, chosen, progress or NoProgress(), today=today or utc_today()
            )

    return asyncio.run(go())
