"""Applying the shipped ledger and the config's own holders and observations to a database:
when it is created, when it is upgraded, and on `tracker holdings sync`. Idempotent; it never
deletes, never overwrites what a user stored, and never brings back what a user removed: each
such case is reported as a conflict, and the user's row is kept."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from sqlmodel import Session

from tracker.config import Settings
from tracker.holdings import add_claim, make_claim, make_holder, upsert_holder
from tracker.ledger_csv import read_addresses, read_holders, read_observations, shipped_text
from tracker.models import Claim, HolderInfo, Observation, Origin
from tracker.store import queries

# The 0002 config seed of "at least 198,012 BTC" was dated the day of the report; the shipped
# ledger dates it the day Arkham's figure describes. Every other seed keeps its date.
_LEGACY_DATE_MOVES = {("united-states", dt.date(2025, 7, 24)): dt.date(2025, 7, 23)}


@dataclass
class SyncResult:
    added: int = 0
    present: int = 0
    holders_added: int = 0
    superseded: int = 0  # 0002 config seeds replaced by their sourced rows
    conflicts: list[str] = field(default_factory=list)
    removed: dict[str, list[int]] = field(default_factory=dict)  # holder: ids kept removed
    addresses_added: int = 0
    addresses_present: int = 0
    addresses_removed: dict[str, list[int]] = field(default_factory=dict)  # as ``removed``

    def warnings(self) -> list[str]:
        """The conflicts, then one line per holder whose removed observations stay removed."""
        kept = [
            f"{slug}: observation(s) {', '.join(map(str, ids))} of the shipped ledger were "
            "removed here and stay removed"
            for slug, ids in self.removed.items()
        ]
        kept += [
            f"{slug}: address(es) {', '.join(map(str, ids))} of the shipped ledger were "
            "removed here and stay removed"
            for slug, ids in self.addresses_removed.items()
        ]
        return [*self.conflicts, *kept]


def sync_ledger(*, session: Session, settings: Settings, today: dt.date) -> SyncResult:
    """Apply the shipped ledger, then the config's ``[[holders]]`` and ``[[holdings]]``."""
    result = SyncResult()
    if settings.ledger.shipped:
        _apply_shipped(session, {h.slug for h in settings.holders}, result, today)
    for h in settings.holders:
        info = make_holder(**h.model_dump(), today=today)
        upsert_holder(session=session, info=info, origin=Origin.CONFIG)
    for seed in settings.holdings:
        claim = make_claim(**seed.model_dump(), origin=Origin.CONFIG, today=today)
        if queries.get_holder(session=session, slug=claim.holder) is None:
            result.conflicts.append(
                f"config: [[holdings]] names holder {claim.holder!r}, which is neither shipped "
                "nor under [[holders]]: add it there"
            )
            continue
        _apply_claim(session, claim, result, what="the config")
    session.flush()
    return result


def _apply_shipped(session: Session, own: set[str], result: SyncResult, today: dt.date) -> None:
    for info in read_holders(shipped_text("holders.csv"), name="holders.csv", today=today):
        if info.slug not in own:  # a holder of the config's own wins over the shipped one
            _apply_holder(session, info, result)
    shipped = read_observations(
        shipped_text("observations.csv"), name="observations.csv", today=today,
        origin=Origin.LEDGER,
    )  # fmt: skip
    for _, claim in shipped:
        _apply_claim(session, claim, result, what="the shipped ledger")
    _supersede_legacy_seeds(session, result)
    _apply_addresses(session, result, today)


def _apply_addresses(session: Session, result: SyncResult, today: dt.date) -> None:
    """The shipped address books: a new address is added; one of the shipped ledger is brought
    up to date; one you removed stays removed; one you stored yourself, if it differs, is kept
    and reported, as is an address in use in another holder's book."""
    from tracker.addresses import ENTRY_FIELDS, add_address, find_address, same_entry

    entries = read_addresses(shipped_text("addresses.csv"), name="addresses.csv", today=today)
    for _, entry in entries:
        holder = queries.get_holder(session=session, slug=entry.holder)
        if holder is None or holder.id is None:
            continue  # a removed holder's addresses stay out (reported with the holder)
        rows = find_address(session, entry.address)
        mine = next((r for r in rows if r.holder_id == holder.id), None)
        other = next((r for r in rows if r.holder_id != holder.id and r.removed_at is None), None)
        if mine is not None and mine.removed_at is not None:
            result.addresses_removed.setdefault(entry.holder, []).append(mine.id or 0)
        elif mine is None and other is not None:
            result.conflicts.append(
                f"address {entry.address}: the shipped ledger gives it to {entry.holder}, but "
                f"it is in another holder's book here (id {other.id}); it was kept there"
            )
        elif mine is None:
            add_address(session, entry, origin=Origin.LEDGER.value)
            result.addresses_added += 1
        elif same_entry(mine, entry):
            result.addresses_present += 1
        elif mine.origin == Origin.LEDGER:
            for name in ENTRY_FIELDS:
                setattr(mine, name, getattr(entry, name))
            session.add(mine)
            result.addresses_present += 1
        else:
            result.conflicts.append(
                f"address {mine.id} ({entry.address}) of {entry.holder}: yours differs from "
                "the shipped ledger's and is kept"
            )


def _apply_holder(session: Session, info: HolderInfo, result: SyncResult) -> None:
    existing = queries.get_holder(session=session, slug=info.slug, removed=True)
    if existing is None:
        upsert_holder(session=session, info=info, origin=Origin.LEDGER)
        result.holders_added += 1
    elif existing.removed_at is not None:
        result.conflicts.append(
            f"holder {info.slug} was removed here; it stays removed "
            f"(`tracker holders add {info.slug} ...` brings it back)"
        )
    elif existing.origin in (Origin.LEDGER, Origin.SEED):
        upsert_holder(session=session, info=info, origin=Origin.LEDGER)
    elif replace(HolderInfo.of(existing), id=None) != info:
        result.conflicts.append(
            f"holder {info.slug}: yours differs from the shipped ledger's and is kept"
        )


def _same(obs: Observation, claim: Claim) -> bool:
    return (
        obs.sats == claim.sats
        and obs.bound == (None if claim.bound is None else claim.bound.value)
        and obs.basis == claim.basis.value
        and obs.scope == claim.scope.value
        and obs.url == claim.url
        and obs.published == claim.published
    )


def _apply_claim(session: Session, claim: Claim, result: SyncResult, *, what: str) -> None:
    holder = queries.get_holder(session=session, slug=claim.holder, removed=True)
    if holder is None or holder.id is None or holder.removed_at is not None:
        return  # a removed holder's observations stay out (reported with the holder)
    existing = queries.find_observation(
        session=session, holder_id=holder.id, as_of=claim.as_of, source=claim.source
    )
    where = f"{claim.holder} {claim.as_of}"
    if existing is None:
        add_claim(session=session, claim=claim)
        result.added += 1
    elif existing.removed_at is not None:
        result.removed.setdefault(claim.holder, []).append(existing.id or 0)
    elif not _same(existing, claim):
        result.conflicts.append(
            f"{where}: stored observation {existing.id} differs from {what}; it was kept "
            "(remove it, then sync, to take the other figure)"
        )
    else:
        result.present += 1


def _supersede_legacy_seeds(session: Session, result: SyncResult) -> None:
    """Point each shipped row at the 0002 config seed it replaces (same holder, date, scope),
    so the seed leaves reports and stays in the ledger's history."""
    rows = queries.list_observations(session=session)
    corrected = {o.supersedes for o in rows if o.supersedes is not None}
    slug_of = {h.id: h.slug for h in queries.list_holders(session=session)}
    for seed in rows:
        if seed.origin != Origin.SEED or seed.id is None or seed.id in corrected:
            continue
        if seed.holder_id not in slug_of:
            continue
        key = (slug_of[seed.holder_id], seed.as_of)
        day = _LEGACY_DATE_MOVES.get(key, seed.as_of)
        match = next(
            (
                o for o in rows
                if o.holder_id == seed.holder_id and o.as_of == day and o.scope == seed.scope
                and o.origin == Origin.LEDGER and o.supersedes is None
            ),
            None,
        )  # fmt: skip
        if match is not None:
            match.supersedes = seed.id
            session.add(match)
            corrected.add(seed.id)
            result.superseded += 1
