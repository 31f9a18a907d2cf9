"""Judging a check, pure: which explorers agree on every address at one height
(``judge``), and the chain's total against the holder's headline claim (``compare``).

No store, no network: ``tracker.verify`` gathers the reads and stores what is judged here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from tracker.chain_models import CheckStatus, Verdict
from tracker.money import SATS_PER_BTC, sats_to_btc

OK = "ok"


@dataclass(frozen=True)
class AddressAnswer:
    """One explorer's answer for one address."""

    explorer: str
    address: str
    sats: int | None
    outcome: str  # ok, http_error, rate_limited, timeout, invalid, invalid_address, skipped
    reason: str | None = None
    latency_ms: int | None = None
    attempts: int = 1


@dataclass(frozen=True)
class ExplorerRead:
    """One explorer's part in a check: the tip it read before and after its address reads
    (the same, or the check could not use it), and every address's answer."""

    explorer: str
    height: int | None  # the tip, when it stayed put over the reads
    outcome: str  # ok, or why the explorer's reads cannot be used (tip_moved, timeout, …)
    answers: tuple[AddressAnswer, ...]
    reason: str | None = None
    latency_ms: int | None = None
    attempts: int = 1  # passes over tip, addresses, tip (a moved tip gets a second)

    def complete(self, addresses: Sequence[str]) -> bool:
        """A stable height and a balance for every address."""
        got = {a.address for a in self.answers if a.outcome == OK and a.sats is not None}
        return self.outcome == OK and self.height is not None and set(addresses) <= got

    def sats(self, address: str) -> int | None:
        for a in self.answers:
            if a.address == address and a.outcome == OK:
                return a.sats
        return None

    def why_not(self) -> str:
        """Why this explorer cannot vote: its own failure, or its first failed address."""
        if self.outcome != OK:
            return f"{self.explorer}: {self.reason or self.outcome}"
        failed = [a for a in self.answers if a.outcome != OK]
        if not failed:
            return f"{self.explorer}: no answer"
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        first = failed[0]
        return f"{self.explorer}: {first.address}: {first.reason or first.outcome}{more}"


@dataclass(frozen=True)
class Differing:
    """An address the explorers gave different balances for, with each one's amount."""

    address: str
    sats: tuple[tuple[str, int | None], ...]  # (explorer, sats)

    def text(self) -> str:
        amounts = ", ".join(f"{e} {_btc(s)}" for e, s in self.sats)
        return f"{self.address}: {amounts}"


@dataclass(frozen=True)
class Judgement:
    status: CheckStatus
    height: int | None
    chain_sats: int | None  # the agreed total; None unless verified (never a made-up total)
    explorers: tuple[str, ...]  # the agreeing ones
    reason: str | None
    differing: tuple[Differing, ...] = ()


def judge(reads: Sequence[ExplorerRead], addresses: Sequence[str], min_explorers: int) -> Judgement:
    """``verified`` when at least ``min_explorers`` explorers give the same balance for every
    address at the same tip height (and no other group of as many disagrees), ``unverified``
    when fewer than that answered every address, ``disagree`` otherwise."""
    complete = [r for r in reads if r.complete(addresses)]
    if len(complete) < min_explorers:
        asked = len(reads)
        failed = "; ".join(r.why_not() for r in reads if not r.complete(addresses))
        reason = (
            f"{len(complete)} of {asked} explorer(s) answered for every address at a steady "
            f"height; {min_explorers} needed"
        )
        if not reads:
            reason = f"no explorer is enabled; {min_explorers} needed"
        return Judgement(
            CheckStatus.UNVERIFIED, None, None, (), f"{reason}: {failed}" if failed else reason
        )
    key = {r.explorer: (r.height, tuple(r.sats(a) for a in addresses)) for r in complete}
    groups = Counter(key.values())
    (best, size), *rest = groups.most_common()
    if size >= min_explorers and not any(n == size for _, n in rest):
        agreeing = tuple(r.explorer for r in complete if key[r.explorer] == best)
        height, balances = best
        total = sum(s for s in balances if s is not None)
        return Judgement(CheckStatus.VERIFIED, height, total, agreeing, None)
    differing = tuple(
        Differing(a, tuple((r.explorer, r.sats(a)) for r in complete))
        for a in addresses
        if len({r.sats(a) for r in complete}) > 1
    )
    parts: list[str] = []
    heights = {r.height for r in complete}
    if len(heights) > 1:
        parts.append("heights differ: " + ", ".join(f"{r.explorer} {r.height}" for r in complete))
    if differing:
        parts.append("balances differ: " + "; ".join(d.text() for d in differing))
    return Judgement(
        CheckStatus.DISAGREE, None, None, (), "; ".join(parts) or "no majority", differing
    )


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict | None
    difference_sats: int | None  # chain - claim, signed
    reason: str | None


def compare(
    chain_sats: int | None,
    claim_sats: int | None,
    tolerance_btc: Decimal,
    *,
    complete: bool = False,
) -> Comparison:
    """The chain's total against the headline claim, with the signed difference (chain -
    claim): ``matches`` within the tolerance; ``inconclusive`` when the chain holds less and
    the address list may be incomplete (the addresses not known may hold the rest); else
    ``differs`` (the chain holds more than claimed, or the holder's full list holds less)."""
    if chain_sats is None:
        return Comparison(None, None, None)
    if claim_sats is None:
        return Comparison(None, None, "no headline figure to compare (none, or undisclosed)")
    difference = chain_sats - claim_sats
    tolerance = int(tolerance_btc * SATS_PER_BTC)
    if abs(difference) <= tolerance:
        return Comparison(Verdict.MATCHES, difference, None)
    if difference < 0 and not complete:
        why = "the known addresses hold less than the claim; the list may be incomplete"
        return Comparison(Verdict.INCONCLUSIVE, difference, why)
    return Comparison(Verdict.DIFFERS, difference, None)


def _btc(sats: int | None) -> str:
    return "no answer" if sats is None else f"{sats_to_btc(sats):,.8f} BTC"
