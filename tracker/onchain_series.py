"""On-chain history, the pure part: an explorer's answers turned into transactions' net effects
on an address, and those into a daily balance series per holder. No I/O here.

Two shapes of answer (Esplora; samples in api-samples/esplora/):

- mempool's ``/api/address/:a/txs/summary``: ``[{txid, value, height, time}]``, ``value`` the
  net effect on the address in satoshis, newest first, capped (5000 by default);
- ``/api/address/:a/txs`` and ``/txs/chain/:last_seen_txid``: full transactions, newest first;
  the net effect is the sum of the outputs paying the address less the sum of the inputs
  spending from it. Only confirmed transactions count.

A day's balance is the sum of the net effects of the transactions confirmed on or before that
UTC day (block time). An address whose running balance goes below zero is missing transactions:
that is an error, never a series.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

SUMMARY_CAP = 5000  # mempool's default cap: a summary this long may be cut
CHAIN_PAGE = 25  # confirmed transactions per page of /txs and /txs/chain/:txid
_TXID = re.compile(r"[0-9a-f]{64}", re.ASCII)
_DAY = dt.timedelta(days=1)


class BadAnswer(ValueError):
    """An explorer's answer that is not the documented shape (the message says where)."""


@dataclass(frozen=True)
class TxEffect:
    """A confirmed transaction's net effect on one address."""

    txid: str
    height: int
    time: dt.datetime  # the block's time, UTC
    value_sats: int  # signed: received minus spent

    @property
    def day(self) -> dt.date:
        return self.time.date()


@dataclass(frozen=True)
class Page:
    """One page of ``/txs`` or ``/txs/chain/:txid``: its confirmed transactions' effects, and
    how many confirmed transactions it held (the paging cursor is the last one's txid)."""

    effects: tuple[TxEffect, ...]
    last_txid: str | None  # the oldest confirmed txid on the page: where the next page starts
    confirmed: int


@dataclass(frozen=True)
class DayBalance:
    day: dt.date
    sats: int
    addresses: int  # the holder's addresses with a transaction on or before this day


@dataclass(frozen=True)
class HolderHistory:
    """What the run did for one holder."""

    slug: str
    addresses: int  # live addresses
    requests: int = 0
    received: int = 0  # confirmed transactions in the answers
    added: int = 0  # of them, new rows in address_txs
    first: dt.date | None = None  # the series' first day (None: no series)
    last: dt.date | None = None
    sats: int | None = None  # the balance on the last day
    error: str | None = None  # why the series was not rebuilt (the previous one is kept)


@dataclass(frozen=True)
class HistoryRun:
    """The outcome of `tracker verify --history`."""

    explorer: str | None  # the explorer read (None: none answered, or nothing to do)
    height: int | None  # its tip, read before the transactions
    holders: tuple[HolderHistory, ...] = ()
    error: str | None = None  # the one line to say when the run stopped short
    skipped: tuple[str, ...] = field(default=())  # holders not reached after the error

    @property
    def ok(self) -> bool:
        return self.error is None


# --- reading answers -----------------------------------------------------------------------


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise BadAnswer(f"{where}: not a number")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral()):
        raise BadAnswer(f"{where}: not an integer")
    return int(value)


def _txid(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _TXID.fullmatch(value):
        raise BadAnswer(f"{where}: not a transaction id")
    return value


def _block_time(value: Any, where: str) -> dt.datetime:
    seconds = _integer(value, where)
    if seconds <= 0:
        raise BadAnswer(f"{where}: not a block time")
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise BadAnswer(f"{where}: not a block time") from None


def parse_tip(payload: Any) -> int:
    """``/api/blocks/tip/height`` (plain text digits, which decode as a JSON number)."""
    height = _integer(payload, "tip height")
    if height <= 0:
        raise BadAnswer("tip height: not a block height")
    return height


def parse_summary(payload: Any) -> list[TxEffect]:
    """mempool's txs/summary; entries without a height (unconfirmed) are left out."""
    if not isinstance(payload, list):
        raise BadAnswer("txs/summary: not a JSON array")
    effects = []
    for n, entry in enumerate(payload):
        where = f"txs/summary[{n}]"
        if not isinstance(entry, dict):
            raise BadAnswer(f"{where}: not an object")
        height = entry.get("height")
        if height is None or height == 0:
            continue  # in the mempool: not confirmed
        effects.append(
            TxEffect(
                txid=_txid(entry.get("txid"), f"{where}.txid"),
                height=_integer(height, f"{where}.height"),
                time=_block_time(entry.get("time"), f"{where}.time"),
                value_sats=_integer(entry.get("value"), f"{where}.value"),
            )
        )
    return effects


def _sum_to(items: Any, address: str, where: str, *, prevout: bool) -> int:
    if not isinstance(items, list):
        raise BadAnswer(f"{where}: not an array")
    total = 0
    for n, item in enumerate(items):
        spot = f"{where}[{n}]"
        if not isinstance(item, dict):
            raise BadAnswer(f"{spot}: not an object")
        if prevout:
            item = item.get("prevout")
            spot += ".prevout"
            if item is None:  # a coinbase input spends nothing
                continue
            if not isinstance(item, dict):
                raise BadAnswer(f"{spot}: not an object")
        if item.get("scriptpubkey_address") == address:
            total += _integer(item.get("value"), f"{spot}.value")
    return total


def parse_page(payload: Any, address: str) -> Page:
    """A page of full transactions: each confirmed one's net effect on ``address``."""
    if not isinstance(payload, list):
        raise BadAnswer("txs: not a JSON array")
    effects: list[TxEffect] = []
    last: str | None = None
    for n, tx in enumerate(payload):
        where = f"txs[{n}]"
        if not isinstance(tx, dict):
            raise BadAnswer(f"{where}: not an object")
        status = tx.get("status")
        if not isinstance(status, dict):
            raise BadAnswer(f"{where}.status: not an object")
        if status.get("confirmed") is not True:
            continue
        txid = _txid(tx.get("txid"), f"{where}.txid")
        received = _sum_to(tx.get("vout"), address, f"{where}.vout", prevout=False)
        spent = _sum_to(tx.get("vin"), address, f"{where}.vin", prevout=True)
        effects.append(
            TxEffect(
                txid=txid,
                height=_integer(status.get("block_height"), f"{where}.status.block_height"),
                time=_block_time(status.get("block_time"), f"{where}.status.block_time"),
                value_sats=received - spent,
            )
        )
        last = txid
    return Page(tuple(effects), last, len(effects))


# --- balances ------------------------------------------------------------------------------


def address_days(effects: Iterable[TxEffect], *, label: str = "address") -> dict[dt.date, int]:
    """The address's balance at the end of each day it had a transaction (block time, UTC).

    Raises BadAnswer when the running balance goes below zero: transactions are missing.
    """
    per_day: dict[dt.date, int] = {}
    for e in effects:
        per_day[e.day] = per_day.get(e.day, 0) + e.value_sats
    balances: dict[dt.date, int] = {}
    running = 0
    for day in sorted(per_day):
        running += per_day[day]
        if running < 0:
            raise BadAnswer(
                f"{label}: the balance would be {running} sats on {day}: transactions are missing"
            )
        balances[day] = running
    return balances


def holder_series(
    per_address: Mapping[str, Sequence[TxEffect]], *, last_day: dt.date
) -> list[DayBalance]:
    """Every day from the first transaction of any of the addresses to ``last_day``: the sum of
    the addresses' balances at the day's end (carried forward over days without a transaction).
    Empty when no address has a transaction on or before ``last_day``."""
    days = {
        label: address_days([e for e in effects if e.day <= last_day], label=label)
        for label, effects in per_address.items()
    }
    starts = [min(d) for d in days.values() if d]
    if not starts:
        return []
    current = dict.fromkeys(days, 0)
    seen: set[str] = set()
    series = []
    day = min(starts)
    while day <= last_day:
        for label, balances in days.items():
            if day in balances:
                current[label] = balances[day]
                seen.add(label)
        series.append(DayBalance(day, sum(current.values()), len(seen)))
        day += _DAY
    return series
