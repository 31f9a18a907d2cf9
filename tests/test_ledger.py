"""The sovereign ledger's rules (DESIGN.md, "Holdings"): which claim is a holder's headline,
its state, its parts, what is not counted, what was known when; and applying the shipped
ledger (sync), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import Result

from tracker.errors import InputError
from tracker.headline import State, excluded, headline, is_sovereign, standing, visible
from tracker.holdings import make_claim
from tracker.models import Basis, Bound, Claim, HolderInfo, HolderKind, HolderLedger, Origin, Scope
from tracker.valuation import excluded_all, value_all

Run = Callable[..., Result]
D = dt.date
TODAY = D(2026, 11, 26)
SOVEREIGN = (Scope.GOVERNMENT, Scope.RESERVE)


def claim(
    cid: int,
    sats: int | None,
    day: D,
    scope: Scope = Scope.GOVERNMENT,
    *,
    basis: Basis = Basis.OFFICIAL,
    published: D | None = None,
    supersedes: int | None = None,
    origin: Origin = Origin.LEDGER,
    recorded: D | None = None,
) -> Claim:
    return Claim(
        "x", sats, None if sats is None else Bound.EXACT, day,
        Basis.UNDISCLOSED if sats is None else basis, f"src {cid}", id=cid, scope=scope,
        published=published or day, supersedes=supersedes, origin=origin,
        recorded_on=recorded or TODAY,
    )  # fmt: skip


# --- the headline, the states and the parts (pure) ------------------------------------------


def test_government_beats_reserve_and_a_newer_undisclosed_does_not_hide_an_amount() -> None:
    claims = (
        claim(1, 100, D(2025, 1, 1)),
        claim(2, None, D(2025, 3, 1), Scope.RESERVE),
        claim(3, 900, D(2025, 4, 1), Scope.RESERVE),
        claim(4, 50, D(2025, 5, 1), Scope.SUBSET),
    )
    at = standing(claims, D(2025, 6, 1))
    assert (at.state, at.cited) == (State.VALUED, claims[0])  # government, though older
    assert at.parts == (claims[2], claims[3])  # the latest reserve, then each subset
    only_reserve = standing(claims[1:3], D(2025, 6, 1))
    assert (only_reserve.state, only_reserve.cited) == (State.VALUED, claims[2])
    assert only_reserve.parts == ()  # the reserve is the headline: not repeated as a part
    told = standing(claims[1:2], D(2025, 6, 1))
    assert (told.state, told.cited) == (State.UNDISCLOSED, claims[1])
    assert standing(claims, D(2024, 12, 31)).state is State.NO_DATA
    subset_only = standing(claims[3:], D(2025, 6, 1))
    assert (subset_only.state, subset_only.parts) == (State.NO_DATA, claims[3:])


def test_a_correction_replaces_what_it_corrects_once_it_is_known() -> None:
    old = claim(1, 6209, D(2025, 6, 16), published=D(2025, 6, 16))
    fix = claim(2, 6200, D(2025, 6, 16), published=D(2025, 8, 1), supersedes=1)
    both = (old, fix)
    assert visible(both, None) == (fix,)
    assert visible(both, D(2025, 7, 1)) == (old,)  # the correction was not out yet
    assert headline(visible(both, D(2025, 7, 1)), D(2025, 7, 1)) == old


def test_a_users_own_claim_counts_from_the_day_it_was_recorded() -> None:
    mine = claim(1, 5, D(2020, 1, 1), origin=Origin.USER, published=D(2020, 1, 2),
                 recorded=D(2026, 1, 1))  # fmt: skip
    assert visible((mine,), D(2025, 12, 31)) == ()
    assert visible((mine,), D(2026, 1, 1)) == (mine,)


def test_state_linked_holders_and_not_sovereign_claims_are_never_counted() -> None:
    ukraine = HolderLedger(
        HolderInfo("ukraine", "Ukraine"),
        (claim(1, 46_351 * 10**8, D(2021, 3, 31), Scope.NOT_SOVEREIGN),),
    )
    lazarus = HolderLedger(
        HolderInfo("north-korea", "North Korea", kind=HolderKind.STATE_LINKED, note="hackers"),
        (claim(2, 13_562 * 10**8, D(2025, 3, 17)),),
    )
    state = HolderLedger(HolderInfo("es", "El Salvador"), (claim(3, 10**8, D(2025, 1, 1)),))
    ledgers = [ukraine, lazarus, state]
    assert [v.holder.slug for v in value_all(ledgers, None, D(2025, 6, 1))] == ["es"]
    out = {e.slug: e for e in excluded_all(ledgers, D(2025, 6, 1))}
    assert set(out) == {"ukraine", "north-korea"} and "hackers" in out["north-korea"].reason
    assert excluded(state, state.claims, D(2025, 6, 1)) is None
    assert not is_sovereign(ukraine, ukraine.claims) and is_sovereign(state, ())


days = st.dates(min_value=D(2018, 1, 1), max_value=D(2026, 1, 1))


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[Claim, ...]:
    n = draw(st.integers(min_value=0, max_value=12))
    out: list[Claim] = []
    for cid in range(1, n + 1):
        day = draw(days)
        out.append(
            claim(
                cid,
                draw(st.one_of(st.none(), st.integers(min_value=0, max_value=10**15))),
                day,
                draw(st.sampled_from(list(Scope))),
                basis=draw(st.sampled_from([Basis.OFFICIAL, Basis.REPORTED, Basis.ESTIMATE])),
                published=day + dt.timedelta(days=draw(st.integers(0, 400))),
                supersedes=draw(st.one_of(st.none(), st.integers(1, n))) if cid > 1 else None,
            )
        )
    return tuple(out)


@settings(max_examples=300, deadline=None)
@given(ledgers(), days, st.one_of(st.none(), days))
def test_the_headline_is_the_newest_known_government_figure_else_the_reserve(
    claims: tuple[Claim, ...], on: D, known_at: D | None
) -> None:
    seen = visible(claims, known_at)
    corrected = {c.supersedes for c in seen}
    assert all(c.id not in corrected for c in seen)
    assert all(known_at is None or (c.published or TODAY) <= known_at for c in seen)
    at = standing(seen, on)
    usable = [c for c in seen if c.sats is not None and c.as_of <= on]
    gov = [c for c in usable if c.scope is Scope.GOVERNMENT]
    res = [c for c in usable if c.scope is Scope.RESERVE]
    told = [c for c in seen if c.scope in SOVEREIGN and c.as_of <= on]
    if gov or res:
        assert at.state is State.VALUED and at.cited is not None and at.cited.sats is not None
        assert at.cited.as_of == max(c.as_of for c in (gov or res))
        assert at.cited.scope is (Scope.GOVERNMENT if gov else Scope.RESERVE)
    elif told:
        assert at.state is State.UNDISCLOSED and at.cited is not None and at.cited.sats is None
    else:
        assert (at.state, at.cited) == (State.NO_DATA, None)
    assert all(p.scope in (Scope.RESERVE, Scope.SUBSET) and p.as_of <= on for p in at.parts)
    assert at.cited not in at.parts


@settings(max_examples=200, deadline=None)
@given(ledgers(), days, days)
def test_what_was_published_later_never_changes_an_earlier_answer(
    claims: tuple[Claim, ...], on: D, known_at: D
) -> None:
    early = tuple(c for c in claims if (c.published or TODAY) <= known_at)
    assert standing(visible(claims, known_at), on) == standing(visible(early, known_at), on)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scope": "treasury"}, "unknown scope 'treasury'"),
        ({"basis": "rumour"}, "unknown basis 'rumour'"),
        ({"bound": "at_most"}, "unknown bound 'at_most'"),
        ({"url": "ftp://example.com/x"}, "is not an http(s) link"),
        ({"url": "javascript:alert(1)"}, "is not an http(s) link"),
        ({"published": D(2025, 1, 1)}, "published 2025-01-01 is before the as-of date"),
    ],
)
def test_a_bad_observation_is_refused_naming_what_is_wrong(
    fields: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "holder": "el-salvador", "btc": "1", "bound": "exact", "as_of": D(2025, 6, 1),
        "basis": "official", "source": "s", "today": TODAY,
    }  # fmt: skip
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_claim(**{**base, **fields})  # type: ignore[arg-type]


# --- the shipped ledger in a database ------------------------------------------------------


def test_sync_is_idempotent_and_never_brings_back_a_removed_row(run_cli: Run, db_url: str) -> None:
    first = run_cli("holdings", "sync", db=db_url)
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith("0 added, 45 already present, 0 holders added")
    listed = run_cli("holdings", "list", "--holder", "finland", "-f", "json", db=db_url)
    (obs,) = [o for h in json.loads(listed.stdout)["holders"]
              for o in h["observations"]]  # fmt: skip
    assert run_cli("holdings", "remove", str(obs["id"]), db=db_url).exit_code == 0
    again = run_cli("holdings", "sync", db=db_url)
    assert again.exit_code == 0
    assert again.stdout.startswith("0 added, 44 already present")
    assert (
        f"finland: observation(s) {obs['id']} of the shipped ledger were removed here and stay "
        "removed"
    ) in again.stderr
    data = json.loads(
        run_cli("report", "--offline", "-f", "json", "--at", "2025-04-14", db=db_url).stdout
    )
    fi = {h["slug"]: h for h in data["holders"]}["finland"]
    assert (fi["state"], fi["btc"]) == ("no_data", None)  # removed: gone from reports


def test_the_configs_own_observations_apply_after_the_shipped_ledger(
    run_cli: Run, db_url: str, tmp_path: Path
) -> None:
    cfg = tmp_path / "own.toml"
    cfg.write_text(
        "[[holdings]]\nholder = 'el-salvador'\nbtc = '7500'\nbound = 'at_least'\n"
        "as_of = 2026-01-15\nbasis = 'reported'\nsource = 'a paper'\n"
        "url = 'https://example.com/a'\npublished = 2026-01-16\n"
    )
    made = run_cli("--config", str(cfg), "report", "--offline", "-f", "json", db=db_url)
    assert made.exit_code == 0, made.stderr
    es = {h["slug"]: h for h in json.loads(made.stdout)["holders"]}["el-salvador"]
    assert (es["btc"], es["bound"], es["url"]) == ("7500", "at_least", "https://example.com/a")
    cfg.write_text(cfg.read_text().replace("'7500'", "'7600'"))  # the config changed
    synced = run_cli("--config", str(cfg), "holdings", "sync", db=db_url)
    assert synced.exit_code == 0
    assert "el-salvador 2026-01-15: stored observation" in synced.stderr
    assert "differs from the config; it was kept" in synced.stderr
    # known from the day it was recorded (today), not from its publication date
    then = run_cli("report", "--offline", "-f", "json", "--at", "2026-02-01",
                   "--as-known-at", "2026-02-01", db=db_url)  # fmt: skip
    es = {h["slug"]: h for h in json.loads(then.stdout)["holders"]}["el-salvador"]
    assert es["btc"] == "7474.37"


def test_a_total_is_never_exact_with_an_approximate_term_in_the_shipped_ledger(
    run_cli: Run,
) -> None:
    for day in ("2022-12-01", "2024-06-01", "2025-04-14", "2025-12-31"):
        data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", day).stdout)
        bounds = {h["bound"] for h in data["holders"] if h["state"] == "valued"}
        total = data["comparison"]["total_bound"]
        if "approximate" in bounds:
            assert total == "approximate", day
        price = Decimal(data["price"]["value"])
        for h in data["holders"]:
            if h["btc"] is not None:
                assert Decimal(h["value"]) == (Decimal(h["btc"]) * price).quantize(Decimal("0.01"))


def test_a_holder_with_addresses_is_removed_only_with_them(run_cli: Run, db_url: str) -> None:
    made = run_cli("holders", "add", "atlantis", "--name", "Atlantis", db=db_url)
    assert made.exit_code == 0, made.stderr
    address = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"  # BIP-173's valid P2WPKH
    added = run_cli("addresses", "add", "atlantis", address, "--kind", "official", db=db_url)
    assert added.exit_code == 0, added.stderr
    refused = run_cli("holders", "remove", "atlantis", db=db_url)
    assert refused.exit_code == 1 and "0 observation(s) and 1 address(es)" in refused.stderr
    assert address in run_cli("addresses", "list", "-f", "csv", db=db_url).stdout
    done = run_cli("holders", "remove", "atlantis", "--with-observations", db=db_url)
    assert done.exit_code == 0, done.stderr
    assert address not in run_cli("addresses", "list", "-f", "csv", db=db_url).stdout


def test_a_holder_said_to_publish_its_full_list_is_marked(run_cli: Run, db_url: str) -> None:
    from tracker.store.engine import make_engine, read_session
    from tracker.store.queries import get_holder

    done = run_cli("addresses", "complete", "el-salvador", db=db_url)
    assert (
        done.exit_code == 0 and done.stdout == "el-salvador: its address list is complete: exact\n"
    )

    def complete() -> bool:
        engine = make_engine(db_url)
        with read_session(engine) as session:
            holder = get_holder(session=session, slug="el-salvador")
            assert holder is not None
            value = holder.addresses_complete
        engine.dispose()
        return value

    assert complete() is True
    assert run_cli("addresses", "complete", "el-salvador", "--no", db=db_url).exit_code == 0
    assert complete() is False
    bad = run_cli("addresses", "complete", "atlantis", db=db_url)
    assert bad.exit_code == 1 and "unknown holder 'atlantis'" in bad.stderr
