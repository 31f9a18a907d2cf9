"""Which of a holder's claims a report uses (DESIGN.md, "Holdings"); pure, no I/O.

- **Visible**: the claims a reader could have known on ``known_at`` (all when None), less those
  a visible correction ``supersedes``.
- **Headline** at a day: the latest ``government`` claim with an amount and ``as_of`` on or
  before it (same day: official > reported > estimate, then the newest recorded); else the
  latest ``reserve`` claim with an amount.
- **State**: ``valued`` (a headline); ``undisclosed`` (a government or reserve claim says the
  holder has BTC and gives no amount); ``no_data`` (no such claim on or before the day).
- **Parts**: the latest ``reserve`` claim (unless it is the headline) and every ``subset`` claim
  on or before the day, newest first: shown with the headline, never added to it.
- **Counted**: ``state`` holders' headlines only; a ``state_linked`` holder's figure and a
  ``not_sovereign`` claim are listed apart, with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tracker.models import Basis, Claim, HolderKind, HolderLedger, Scope

_BASIS_RANK = {Basis.OFFICIAL: 0, Basis.REPORTED: 1, Basis.ESTIMATE: 2, Basis.UNDISCLOSED: 3}
SOVEREIGN_SCOPES = (Scope.GOVERNMENT, Scope.RESERVE)


class State(StrEnum):
    VALUED = "valued"
    UNDISCLOSED = "undisclosed"
    NO_DATA = "no_data"


def visible(claims: Iterable[Claim], known_at: dt.date | None) -> tuple[Claim, ...]:
    """The claims known on ``known_at`` that no known correction replaces."""
    known = [
        c
        for c in claims
        if known_at is None or (c.known_from is not None and c.known_from <= known_at)
    ]
    corrected = {c.supersedes for c in known if c.supersedes is not None}
    return tuple(c for c in known if c.id is None or c.id not in corrected)


def _newest(claims: Iterable[Claim]) -> Claim | None:
    return max(claims, key=lambda c: (c.as_of, -_BASIS_RANK[c.basis], c.id or 0), default=None)


def headline(claims: Iterable[Claim], on: dt.date) -> Claim | None:
    seen = [c for c in claims if c.sats is not None and c.as_of <= on]
    for scope in SOVEREIGN_SCOPES:
        found = _newest(c for c in seen if c.scope is scope)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Standing:
    """A holder's state on a day, the claim it cites, and the parts shown with it."""

    state: State
    cited: Claim | None  # the headline; when undisclosed, the newest claim without an amount
    parts: tuple[Claim, ...]


def standing(claims: tuple[Claim, ...], on: dt.date) -> Standing:
    head = headline(claims, on)
    cited: Claim | None = head
    if head is not None:
        state = State.VALUED
    else:
        told = _newest(c for c in claims if c.scope in SOVEREIGN_SCOPES and c.as_of <= on)
        state = State.NO_DATA if told is None else State.UNDISCLOSED
        cited = told
    reserve = _newest(c for c in claims if c.scope is Scope.RESERVE and c.as_of <= on)
    subsets = sorted(
        (c for c in claims if c.scope is Scope.SUBSET and c.as_of <= on),
        key=lambda c: (c.as_of, c.id or 0),
        reverse=True,
    )
    parts = tuple(([] if reserve is None or reserve == cited else [reserve]) + subsets)
    return Standing(state, cited, parts)


def is_sovereign(ledger: HolderLedger, claims: tuple[Claim, ...]) -> bool:
    """Shown among the sovereigns: a ``state`` holder with a claim that is not ``not_sovereign``
    (or with no claim at all yet); Ukraine's officials' declarations make it no sovereign."""
    if ledger.holder.kind is not HolderKind.STATE:
        return False
    return not claims or any(c.scope is not Scope.NOT_SOVEREIGN for c in claims)


@dataclass(frozen=True)
class Excluded:
    """A figure other trackers list as a state's, not counted here, and why."""

    slug: str
    name: str
    claim: Claim
    reason: str


def excluded(ledger: HolderLedger, claims: tuple[Claim, ...], on: dt.date) -> Excluded | None:
    """A state-linked holder's headline, or a state's newest ``not_sovereign`` claim."""
    h = ledger.holder
    if h.kind is HolderKind.STATE_LINKED:
        found = _newest(c for c in claims if c.sats is not None and c.as_of <= on)
        reason = f"state-linked: {h.note or 'tied to a state, not its treasury'}"
    else:
        found = _newest(
            c for c in claims
            if c.scope is Scope.NOT_SOVEREIGN and c.sats is not None and c.as_of <= on
        )  # fmt: skip
        reason = (found.note if found and found.note else None) or "not state property"
    if found is None:
        return None
    return Excluded(h.slug, h.name, found, reason)
