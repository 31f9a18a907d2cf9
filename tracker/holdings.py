"""The ledger's rules: validating holders and claims, adding, correcting and removing them,
and loading the ledger for the pure layers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from tracker.bounds import OBSERVED
from tracker.clock import utc_now
from tracker.errors import InputError
from tracker.inputs import check_day, check_slug, check_text, parse_btc, parse_number
from tracker.models import (
    Basis,
    Bound,
    Claim,
    Holder,
    HolderInfo,
    HolderKind,
    HolderLedger,
    Observation,
    Origin,
    Scope,
)
from tracker.store import queries

MAX_SOURCE_BYTES = 1000  # PostgreSQL indexes (holder, as_of, source): keep it well in a btree row
MAX_NAME_CHARS = 200
MAX_NOTE_CHARS = 4000
MAX_COST_BASIS_USD = Decimal(10) ** 15
MAX_URL_CHARS = 2000
MAX_POPULATION = 10**10


def _choice(enum: type[StrEnum], value: str, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise InputError(
            f"unknown {what} {value!r}: use one of {', '.join(m.value for m in enum)}"
        ) from None


def check_url(url: str) -> str:
    """An http(s) link with a host: where a reader can check the figure."""
    from urllib.parse import urlsplit

    check_text(url, what="the URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise InputError(f"the URL {url!r} is not an http(s) link: give https://host/path")
    if len(url) > MAX_URL_CHARS:
        raise InputError(f"the URL is longer than {MAX_URL_CHARS} characters")
    return url


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
    scope: str = "government",
    url: str | None = None,
    published: dt.date | None = None,
    supersedes: int | None = None,
    origin: Origin = Origin.USER,
    today: dt.date,
) -> Claim:
    """Validate one observation's fields together; raise InputError naming what is wrong."""
    basis_: Basis = _choice(Basis, basis, "basis")
    scope_: Scope = _choice(Scope, scope, "scope")
    if url is not None:
        check_url(url)
    if published is not None:
        check_day(published, today=today, what="publication date")
        if published < as_of:
            raise InputError(
                f"published {published} is before the as-of date {as_of}: a source cannot "
                "describe a day after it appeared"
            )
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
        scope=scope_,
        url=url,
        published=published,
        supersedes=supersedes,
        origin=origin,
    )


def make_holder(
    *,
    slug: str,
    name: str,
    country_code: str | None = None,
    kind: str = "state",
    population: int | None = None,
    population_year: int | None = None,
    population_source: str | None = None,
    note: str | None = None,
    today: dt.date,
) -> HolderInfo:
    """Validate one holder's fields together; raise InputError naming what is wrong."""
    check_slug(slug)
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InputError(f"a holder's name is 1 to {MAX_NAME_CHARS} characters")
    check_text(name, what="the holder's name")
    kind_: HolderKind = _choice(HolderKind, kind, "kind")
    if country_code is not None and (len(country_code) != 2 or not country_code.isalpha()):
        raise InputError(f"country code {country_code!r} is not a two-letter ISO code")
    if population is not None and not 0 < population <= MAX_POPULATION:
        raise InputError(f"population {population} is not between 1 and {MAX_POPULATION:,}")
    if population_year is not None and not 1900 <= population_year <= today.year:
        raise InputError(f"population year {population_year} is not between 1900 and {today.year}")
    for text, what in ((population_source, "the population source"), (note, "the note")):
        if text is not None:
            check_text(text, what=what, multiline=what == "the note")
    return HolderInfo(
        slug=slug,
        name=name.strip(),
        country_code=None if country_code is None else country_code.upper(),
        population=population,
        population_source=population_source,
        kind=kind_,
        population_year=population_year,
        note=note,
    )


def upsert_holder(*, session: Session, info: HolderInfo, origin: Origin = Origin.USER) -> Holder:
    """Create the holder (or bring back a removed one), or update it from ``info``, which
    ``make_holder`` has checked (every caller builds it there)."""
    holder = queries.get_holder(session=session, slug=info.slug, removed=True)
    if holder is None:
        holder = Holder(slug=info.slug, name=info.name)
    holder.name = info.name
    holder.country_code = info.country_code
    holder.population = info.population
    holder.population_source = info.population_source
    holder.kind = info.kind.value
    holder.population_year = info.population_year
    holder.note = info.note
    holder.origin = origin.value
    holder.removed_at = None
    session.add(holder)
    session.flush()
    return holder


def remove_holder(*, session: Session, slug: str, with_observations: bool) -> tuple[Holder, int]:
    """Remove a holder (the row stays, marked removed: its id is never reused); refused while
    it has observations or addresses unless ``with_observations``, which removes them too.
    Returns the holder and how many observations went with it."""
    from tracker.addresses import live_addresses

    holder = queries.get_holder(session=session, slug=slug)
    if holder is None or holder.id is None:
        raise InputError(f"unknown holder {slug!r}: see `tracker holders list`")
    live = queries.list_observations(session=session, holder_id=holder.id)
    book = live_addresses(session, holder.id)
    if (live or book) and not with_observations:
        raise InputError(
            f"{slug} has {len(live)} observation(s) and {len(book)} address(es): remove them "
            "first, or pass --with-observations to remove them with the holder"
        )
    now = utc_now()
    for row in [*live, *book]:
        row.removed_at = now
        session.add(row)
    holder.removed_at = now
    session.add(holder)
    session.flush()
    return holder, len(live)


def add_claim(*, session: Session, claim: Claim) -> Observation:
    """Store a new observation; an existing one is never overwritten."""
    holder = queries.get_holder(session=session, slug=claim.holder)
    if holder is None or holder.id is None:
        raise InputError(
            f"unknown holder {claim.holder!r}: see `tracker holders list`, "
            "or pass --name to create it"
        )
    existing = queries.find_observation(
        session=session, holder_id=holder.id, as_of=claim.as_of, source=claim.source
    )
    if existing is not None:
        if existing.removed_at is not None:
            raise InputError(
                f"{claim.holder} had an observation as of {claim.as_of} from that source "
                f"(id {existing.id}, removed): give the source in other words, or a new date"
            )
        raise InputError(
            f"{claim.holder} already has an observation as of {claim.as_of} from that source "
            f"(id {existing.id}); to correct it, add the new figure with --supersedes "
            f"{existing.id} and another source text"
        )
    if claim.supersedes is not None:
        check_supersedes(session=session, holder=holder, target_id=claim.supersedes)
    obs = Observation(
        holder_id=holder.id,
        sats=claim.sats,
        bound=None if claim.bound is None else claim.bound.value,
        as_of=claim.as_of,
        basis=claim.basis.value,
        source=claim.source,
        note=claim.note,
        cost_basis_usd=claim.cost_basis_usd,
        scope=claim.scope.value,
        url=claim.url,
        published=claim.published,
        supersedes=claim.supersedes,
        origin=claim.origin.value,
    )
    session.add(obs)
    session.flush()
    return obs


def check_supersedes(*, session: Session, holder: Holder, target_id: int) -> Observation:
    """A correction points at a live observation of the same holder."""
    target = session.get(Observation, target_id)
    if target is None or target.removed_at is not None:
        raise InputError(
            f"--supersedes {target_id}: no such observation: see `tracker holdings list`"
        )
    if target.holder_id != holder.id:
        raise InputError(
            f"--supersedes {target_id}: that observation is another holder's, not {holder.slug}'s"
        )
    return target


def remove_observation(*, session: Session, observation_id: int) -> Observation:
    """Mark one observation removed: it leaves every report, and its row stays so its id is
    never reused and `holdings sync` knows not to bring it back."""
    obs = session.get(Observation, observation_id)
    if obs is None or obs.removed_at is not None:
        raise InputError(f"no observation with id {observation_id}: see `tracker holdings list`")
    obs.removed_at = utc_now()
    session.add(obs)
    session.flush()
    return obs


def load_ledgers(*, session: Session) -> list[HolderLedger]:
    """Every holder with its live claims (removed ones left out), oldest first."""
    return ledgers_and_removed(session=session, removed=False)[0]


def ledgers_and_removed(
    *, session: Session, removed: bool
) -> tuple[list[HolderLedger], frozenset[int]]:
    """Every live holder with its claims, oldest first, the removed ones too when ``removed``
    (for `holdings list --removed`), and the ids of those removed."""
    holders = queries.list_holders(session=session)
    by_id = {h.id: h for h in holders}
    claims: dict[int, list[Claim]] = {h.id: [] for h in holders if h.id is not None}
    gone: set[int] = set()
    for obs in queries.list_observations(session=session, removed=removed):
        holder = by_id.get(obs.holder_id)
        if holder is None:  # a removed holder's (its observations were removed with it)
            continue
        if obs.removed_at is not None and obs.id is not None:
            gone.add(obs.id)
        claims[obs.holder_id].append(Claim.of(obs, holder.slug))
    ledgers = [
        HolderLedger(holder=HolderInfo.of(h), claims=tuple(claims[h.id]))
        for h in holders
        if h.id is not None
    ]
    return ledgers, frozenset(gone)
