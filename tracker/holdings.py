"""The ledger's rules: validating claims, adding and removing them, applying the seeds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from tracker.bounds import OBSERVED
from tracker.config import Settings
from tracker.errors import InputError
from tracker.inputs import check_day, check_slug, check_text, parse_btc, parse_number
from tracker.models import (
    Basis,
    Bound,
    Claim,
    Holder,
    HolderInfo,
    HolderLedger,
    Observation,
)
from tracker.store import queries

MAX_SOURCE_BYTES = 1000  # PostgreSQL indexes (holder, as_of, source): keep it well in a btree row
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 4000
MAX_COST_BASIS_USD = Decimal(10) ** 15


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def make_claim(
    *,
    holder: str,
    btc: str | None,
    bound: str | None,
    as_of: dt.date,
    basis: str,
    source: str,
    note: str | None = None,
    cost_basis_usd: str | None = None,
    today: dt.date,
) -> Claim:
    """Validate one observation's fields together; raise InputError naming what is wrong."""
    try:
        basis_ = Basis(basis)
    except ValueError:
        raise InputError(
            f"unknown basis {basis!r}: use one of {', '.join(b.value for b in Basis)}"
        ) from None
    if bound is not None:
        bound_ = next((b for b in OBSERVED if b.value == bound), None)
        if bound_ is None:  # at_most is only ever derived, never observed
            raise InputError(
                f"unknown bound {bound!r}: use one of {', '.join(b.value for b in OBSERVED)}"
            )
    check_day(as_of, today=today, what="as-of date")
    check_text(source, what="the source")
    if note is not None:
        check_text(note, what="the note", multiline=True)
    if not source.strip():
        raise InputError("every observation needs a source (a title or URL and its date)")
    if len(source.strip().encode()) > MAX_SOURCE_BYTES:
        raise InputError(
            f"the source is longer than {MAX_SOURCE_BYTES} bytes: keep its title, URL and date "
            "there and put the rest in the note"
        )
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InputError(f"the note is longer than {MAX_NOTE_CHARS} characters")
    if basis_ is Basis.UNDISCLOSED:
        if btc is not None or bound is not None:
            raise InputError("an undisclosed observation has no BTC amount or bound")
        sats, bound_or_none = None, None
    else:
        if btc is None:
            raise InputError(
                f"{_article(basis_.value)} {basis_.value} observation needs a BTC amount "
                "(or use basis undisclosed)"
            )
        sats = parse_btc(btc)
        bound_or_none = bound_ if bound is not None else Bound.EXACT
    cost = (
        None
        if cost_basis_usd is None
        else parse_number(
            cost_basis_usd,
            what="cost basis",
            example="350000000",
            positive=False,
            maximum=MAX_COST_BASIS_USD,
        )
    )
    if cost is not None and sats is None:
        raise InputError("a cost basis needs a BTC amount")
    return Claim(
        holder=holder,
        sats=sats,
        bound=bound_or_none,
        as_of=as_of,
        basis=basis_,
        source=source.strip(),
        note=note,
        cost_basis_usd=cost,
    )


def upsert_holder(*, session: Session, info: HolderInfo) -> Holder:
    """Create the holder, or update its name, country and population from ``info``."""
    check_slug(info.slug)
    if not info.name.strip() or len(info.name) > MAX_NAME_CHARS:
        raise InputError(f"a holder's name is 1 to {MAX_NAME_CHARS} characters")
    check_text(info.name, what="the holder's name")
    if info.population_source is not None:
        check_text(info.population_source, what="the population source")
    holder = queries.get_holder(session=session, slug=info.slug)
    if holder is None:
        holder = Holder(slug=info.slug, name=info.name)
    holder.name = info.name
    holder.country_code = info.country_code
    holder.population = info.population
    holder.population_source = info.population_source
    session.add(holder)
    session.flush()
    return holder


def add_claim(*, session: Session, claim: Claim) -> Observation:
    """Store a new observation; an existing one is never overwritten."""
    holder = queries.get_holder(session=session, slug=claim.holder)
    if holder is None or holder.id is None:
        raise InputError(
            f"unknown holder {claim.holder!r}: see `tracker holdings list`, "
            "or pass --name to create it"
        )
    existing = queries.find_observation(
        session=session, holder_id=holder.id, as_of=claim.as_of, source=claim.source
    )
    if existing is not None:
        raise InputError(
            f"{claim.holder} already has an observation as of {claim.as_of} from that source "
            f"(id {existing.id}); remove it first with `tracker holdings remove {existing.id}`"
        )
    obs = Observation(
        holder_id=holder.id,
        sats=claim.sats,
        bound=None if claim.bound is None else claim.bound.value,
        as_of=claim.as_of,
        basis=claim.basis.value,
        source=claim.source,
        note=claim.note,
        cost_basis_usd=claim.cost_basis_usd,
    )
    session.add(obs)
    session.flush()
    return obs


def remove_observation(*, session: Session, observation_id: int) -> Observation:
    obs = session.get(Observation, observation_id)
    if obs is None:
        raise InputError(f"no observation with id {observation_id}: see `tracker holdings list`")
    session.delete(obs)
    session.flush()
    return obs


@dataclass(frozen=True)
class SyncResult:
    added: int
    present: int
    conflicts: tuple[str, ...]


def sync_seeds(*, session: Session, settings: Settings, today: dt.date) -> SyncResult:
    """Apply the config's holders and observations; idempotent, and it never deletes."""
    for h in settings.holders:
        upsert_holder(session=session, info=HolderInfo(**h.model_dump()))
    added = present = 0
    conflicts: list[str] = []
    for seed in settings.holdings:
        claim = make_claim(**seed.model_dump(), today=today)
        holder = queries.get_holder(session=session, slug=claim.holder)
        assert holder is not None and holder.id is not None
        existing = queries.find_observation(
            session=session, holder_id=holder.id, as_of=claim.as_of, source=claim.source
        )
        if existing is None:
            add_claim(session=session, claim=claim)
            added += 1
        elif existing.sats != claim.sats or existing.basis != claim.basis.value:
            conflicts.append(
                f"{claim.holder} {claim.as_of}: stored observation {existing.id} differs from "
                "the config; it was kept (remove it to re-apply the config's figure)"
            )
        else:
            present += 1
    return SyncResult(added=added, present=present, conflicts=tuple(conflicts))


def load_ledgers(*, session: Session) -> list[HolderLedger]:
    """Every holder with its claims, oldest first."""
    holders = queries.list_holders(session=session)
    by_id = {h.id: h for h in holders}
    claims: dict[int, list[Claim]] = {h.id: [] for h in holders if h.id is not None}
    for obs in queries.list_observations(session=session):
        holder = by_id[obs.holder_id]
        claims[obs.holder_id].append(
            Claim(
                holder=holder.slug,
                sats=obs.sats,
                bound=None if obs.bound is None else Bound(obs.bound),
                as_of=obs.as_of,
                basis=Basis(obs.basis),
                source=obs.source,
                note=obs.note,
                cost_basis_usd=obs.cost_basis_usd,
                id=obs.id,
            )
        )
    return [
        HolderLedger(
            holder=HolderInfo.of(h),
            claims=tuple(claims[h.id]),
        )
        for h in holders
        if h.id is not None
    ]
