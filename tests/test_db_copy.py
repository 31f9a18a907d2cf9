"""`tracker db copy`, `db export` and `db import`: a database moved between SQLite and
PostgreSQL (either way) keeps every row and value; a rerun copies only what is missing; a
destination holding other data is refused before anything is written. (Faults, kill -9 and
bad files: test_db_copy_faults.py.)"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlmodel import SQLModel

from tracker.chain_models import Address, AddressTx, OnchainDaily, VerifyAnswer, VerifyCheck
from tracker.models import ConsensusPrice, FetchRound, Holder, SourceQuote
from tracker.store import transfer
from tracker.store.copy import copy_database, open_destination, open_source, verify_copy
from tracker.store.engine import make_engine, write_session
from tracker.store.queries import insert_round

Run = Callable[..., Result]
UTC = dt.UTC
START = dt.datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def other_url(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new database on the other backend from ``db_url``: each case crosses backends."""
    if db_url.startswith("sqlite"):
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'other.db'}"


def add_rounds(url: str, n: int, *, first: int = 0) -> None:
    """``n`` one-minute rounds, each with three quotes (one failed) and a consensus."""
    engine = make_engine(url)
    with write_session(engine) as session:
        for i in range(first, first + n):
            at = START + dt.timedelta(minutes=i)
            price = Decimal("87123.12345678") + i
            quotes = [
                SourceQuote(
                    source=s, price=price, quoted_at=at, latency_ms=40 + i % 7, outcome="accepted"
                )
                for s in ("coinbase", "kraken")
            ]
            quotes.append(SourceQuote(source="gemini", outcome="timeout", reason="5 s", attempts=2))
            insert_round(
                session=session,
                fetch_round=FetchRound(
                    started_at=at, finished_at=at + dt.timedelta(seconds=1), status="ok"
                ),
                quotes=quotes,
                consensus=ConsensusPrice(at=at, price=price, sources="coinbase,kraken"),
            )
    engine.dispose()


def add_onchain(url: str) -> None:
    """A check of El Salvador's claim with two explorers' answers, two transactions of one
    of its addresses, its daily series, and the address marked synced."""
    engine = make_engine(url)
    with write_session(engine) as session:
        holder = session.exec(sa.select(Holder).where(Holder.slug == "el-salvador")).scalar_one()
        address = (
            session.exec(
                sa.select(Address).where(Address.holder_id == holder.id).order_by(Address.id)
            )
            .scalars()
            .first()
        )
        assert address is not None and address.id is not None and holder.id is not None
        check = VerifyCheck(
            holder_id=holder.id,
            started_at=START,
            finished_at=START + dt.timedelta(seconds=3),
            status="verified",
            height=880_000,
            chain_sats=2_100_000_000_000_000,
            chain_bound="exact",
            addresses=1,
            explorers="blockstream,mempool",
            claim_sats=610_000_000_000,
            claim_bound="at_least",
            verdict="matches",
            difference_sats=-12,
        )
        session.add(check)
        session.flush()
        assert check.id is not None
        for explorer in ("blockstream", "mempool"):
            session.add(
                VerifyAnswer(
                    check_id=check.id,
                    explorer=explorer,
                    address=address.address,
                    sats=50_000_000_000,
                    height=880_000,
                    outcome="accepted",
                    latency_ms=90,
                )
            )
        for n, day in enumerate((dt.date(2024, 1, 2), dt.date(2024, 1, 5))):
            session.add(
                AddressTx(
                    address_id=address.id,
                    txid=f"{n:064x}",
                    height=830_000 + n,
                    time=dt.datetime(day.year, day.month, day.day, tzinfo=UTC),
                    value_sats=(-1) ** n * 100_000_000,
                )
            )
            session.add(
                OnchainDaily(holder_id=holder.id, date=day, sats=100_000_000 * (1 - n), addresses=1)
            )
        address.synced_height = 880_000
        session.add(address)
    engine.dispose()


def populate(run_cli: Run, url: str, rounds: int = 120) -> None:
    """The shipped ledger and bundled closes, a user's edits, rounds and on-chain checks."""
    assert run_cli("db", "upgrade", db=url).exit_code == 0
    for args in (
        (
            "holders",
            "add",
            "atlantis",
            "--name",
            "Atlantis",
            "--country",
            "AQ",
            "--population",
            "1000",
        ),
        (
            "holdings",
            "add",
            "atlantis",
            "--btc",
            "12.34567891",
            "--bound",
            "at_least",
            "--as-of",
            "2025-02-01",
            "--basis",
            "reported",
            "--source",
            "Atlantis Gazette",
            "--cost-basis-usd",
            "1234567.891",
        ),
        (
            "holdings",
            "add",
            "el-salvador",
            "--btc",
            "6100",
            "--as-of",
            "2025-02-02",
            "--basis",
            "official",
            "--source",
            "a user's note",
        ),
    ):
        result = run_cli(*args, db=url)
        assert result.exit_code == 0, result.stderr
    removed = run_cli(
        "holdings",
        "add",
        "atlantis",
        "--btc",
        "1",
        "--as-of",
        "2025-01-01",
        "--basis",
        "estimate",
        "--source",
        "wrong",
        db=url,
    )
    listed = json.loads(run_cli("holdings", "list", "-f", "json", db=url).stdout)["holders"]
    ids = [o["id"] for h in listed for o in h["observations"] if o["source"] == "wrong"]
    assert removed.exit_code == 0 and ids
    assert run_cli("holdings", "remove", str(ids[0]), db=url).exit_code == 0
    add_rounds(url, rounds)
    add_onchain(url)


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        result = {s.name: transfer.count(conn, s) for s in transfer.specs()}
    engine.dispose()
    return result


def report(run_cli: Run, url: str) -> dict[str, Any]:
    result = run_cli("report", "--offline", "--format", "json", "--at", "2025-03-01", db=url)
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    data.pop("generated_at")
    return data


def test_tables_move_parents_first() -> None:
    import tracker.chain_models
    import tracker.models  # noqa: F401

    order = [s.name for s in transfer.specs()]
    for table in SQLModel.metadata.sorted_tables:
        for fk in table.foreign_keys:
            parent = fk.column.table.name
            if parent != table.name:
                assert order.index(parent) < order.index(table.name), (parent, table.name)


def test_a_copy_keeps_every_row_and_the_report(run_cli: Run, db_url: str, other_url: str) -> None:
    populate(run_cli, db_url)
    result = run_cli("db", "copy", "--from", db_url, "--to", other_url, "--verify")
    assert result.exit_code == 0, result.stderr
    source = counts(db_url)
    assert counts(other_url) == source
    assert source["fetch_rounds"] == 120 and source["source_quotes"] == 360
    assert source["verify_answers"] == 2 and source["onchain_daily"] == 2
    copied, verified = result.stdout.split("verify: row counts and checksums\n")
    lines = {line.split()[0]: " ".join(line.split()) for line in copied.splitlines()[1:-1]}
    assert lines["source_quotes"] == "source_quotes 360 rows: 360 copied, 0 already there"
    checks = {line.split()[0]: line.split() for line in verified.splitlines()}
    assert set(checks) == set(lines) and all(c[-1] == "same" for c in checks.values())
    assert report(run_cli, db_url) == report(run_cli, other_url)
    # exact on the other side: the user's 8-decimal claim and cost basis, a price, an instant
    src, dst = open_source(db_url), open_source(other_url)
    for spec in transfer.specs():
        with src.connect() as a, dst.connect() as b:
            assert transfer.read_batch(a, spec, after=None, size=10**6) == transfer.read_batch(
                b, spec, after=None, size=10**6
            ), spec.name
    src.dispose()
    dst.dispose()


def test_a_rerun_copies_nothing_and_a_catch_up_copies_what_changed(
    run_cli: Run, db_url: str, other_url: str
) -> None:
    populate(run_cli, db_url, rounds=30)
    assert run_cli("db", "copy", "--from", db_url, "--to", other_url).exit_code == 0
    again = run_cli("db", "copy", "--from", db_url, "--to", other_url, "-f", "json")
    assert again.exit_code == 0, again.stderr
    tables = {t["table"]: t for t in json.loads(again.stdout)["tables"]}
    assert all(t["copied"] == 0 and t["updated"] == 0 for t in tables.values())
    assert tables["source_quotes"]["already_there"] == 90
    # the service went on, and the user removed a holder: the source moved on
    add_rounds(db_url, 5, first=30)
    assert run_cli("holders", "remove", "atlantis", "--with-observations", db=db_url).exit_code == 0
    catch_up = run_cli("db", "copy", "--from", db_url, "--to", other_url, "--verify", "-f", "json")
    assert catch_up.exit_code == 0, catch_up.stderr
    doc = json.loads(catch_up.stdout)
    tables = {t["table"]: t for t in doc["tables"]}
    assert tables["fetch_rounds"]["copied"] == 5 and tables["source_quotes"]["copied"] == 15
    assert tables["holders"]["updated"] == 1  # its removed_at
    assert tables["holding_observations"]["updated"] == 1  # the live one removed with it
    assert all(v["same"] for v in doc["verify"])
    assert report(run_cli, db_url) == report(run_cli, other_url)


def test_a_destination_with_other_data_is_refused_before_anything_is_written(
    run_cli: Run, db_url: str, other_url: str
) -> None:
    populate(run_cli, db_url, rounds=10)
    assert run_cli("db", "upgrade", db=other_url).exit_code == 0  # its own ledger...
    add_rounds(other_url, 3, first=500)  # ...and its own rounds, numbered from 1
    before = counts(other_url)
    result = run_cli("db", "copy", "--from", db_url, "--to", other_url)
    assert result.exit_code == 1
    err = result.stderr.strip()
    assert err.startswith("tracker: error: the destination already holds other data: ")
    assert len(err.splitlines()) == 1 and "nothing was written" in err
    assert counts(other_url) == before  # not even the tables before the conflicting one


def test_a_conflicting_round_names_its_key(run_cli: Run, db_url: str, other_url: str) -> None:
    populate(run_cli, db_url, rounds=10)
    assert run_cli("db", "copy", "--from", db_url, "--to", other_url).exit_code == 0
    engine = make_engine(other_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE source_quotes SET latency_ms = 9999 WHERE id = 7"))
    engine.dispose()
    add_rounds(db_url, 2, first=10)  # something to copy, which must not be copied
    before = counts(other_url)
    result = run_cli("db", "copy", "--from", db_url, "--to", other_url)
    assert result.exit_code == 1
    assert "source_quotes id=7 has latency_ms 9999 there and 42 in the source" in result.stderr
    assert counts(other_url) == before


def test_postgresql_sequences_go_on_above_the_copied_ids(
    run_cli: Run, tmp_path: Path, pg_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    populate(run_cli, source, rounds=25)
    assert run_cli("db", "copy", "--from", source, "--to", pg_url).exit_code == 0
    add_rounds(pg_url, 1, first=25)  # ids from the sequences
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT max(id) FROM fetch_rounds")).scalar() == 26
        assert conn.execute(sa.text("SELECT count(*) FROM source_quotes")).scalar() == 78
    engine.dispose()
    added = run_cli(
        "holdings",
        "add",
        "atlantis",
        "--btc",
        "2",
        "--as-of",
        "2025-06-01",
        "--basis",
        "estimate",
        "--source",
        "after the move",
        db=pg_url,
    )
    assert added.exit_code == 0, added.stderr


def test_a_copy_stopped_part_way_resumes_without_duplicates(
    run_cli: Run, db_url: str, other_url: str
) -> None:
    populate(run_cli, db_url, rounds=200)

    class Crash(Exception):
        pass

    class StopAfter:
        def __init__(self, batches: int) -> None:
            self.left = batches

        def table(self, name: str, rows: int) -> None:
            pass

        def advance(self, rows: int) -> None:
            self.left -= 1
            if self.left < 0:
                raise Crash

    src = open_source(db_url)
    for stop in (3, 9, 15):
        dst, _ = open_destination(other_url)
        with pytest.raises(Crash):
            copy_database(src, dst, batch_rows=50, progress=StopAfter(stop))
        dst.dispose()
    dst, _ = open_destination(other_url)
    results = copy_database(src, dst, batch_rows=50)
    assert sum(r.present for r in results) > 0  # it resumed, it did not start again
    assert all(c.same for c in verify_copy(src, dst))
    src.dispose()
    dst.dispose()


def test_export_and_import_round_trip_exactly_and_import_twice_changes_nothing(
    run_cli: Run, db_url: str, other_url: str, tmp_path: Path
) -> None:
    populate(run_cli, db_url, rounds=20)
    exported = run_cli("db", "export", db=db_url)
    assert exported.exit_code == 0, exported.stderr
    lines = exported.stdout.splitlines()
    header = json.loads(lines[0])
    assert header["tracker_export"] == 1 and header["schema"] == "0004_onchain"
    rows = [json.loads(line) for line in lines[1:]]
    assert len(rows) == sum(counts(db_url).values())
    quote = next(r for r in rows if r["table"] == "source_quotes")
    assert quote["price"] == "87123.12345678" and quote["quoted_at"].endswith("+00:00")
    assert quote["quoted_at"] == "2025-03-01T12:00:00.123456+00:00"
    claim = next(
        r for r in rows if r["table"] == "holding_observations" and r["sats"] == "1234567891"
    )
    assert claim["cost_basis_usd"] == "1234567.891"
    check = next(r for r in rows if r["table"] == "verify_checks")
    assert check["chain_sats"] == "2100000000000000" and check["difference_sats"] == "-12"
    backup = tmp_path / "backup.jsonl"
    backup.write_text(exported.stdout, encoding="utf-8")
    first = run_cli("db", "import", str(backup), db=other_url)
    assert first.exit_code == 0, first.stderr
    assert counts(other_url) == counts(db_url)
    second = run_cli("db", "import", str(backup), db=other_url)
    assert second.exit_code == 0
    said = {line.split()[0]: " ".join(line.split()) for line in second.stdout.splitlines()}
    assert said["source_quotes"] == "source_quotes 60 rows: 0 imported, 60 already there"
    assert counts(other_url) == counts(db_url)
    src, dst = open_source(db_url), open_source(other_url)
    assert all(c.same for c in verify_copy(src, dst))
    src.dispose()
    dst.dispose()
    assert report(run_cli, db_url) == report(run_cli, other_url)


def test_export_of_some_tables(run_cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=3)
    result = run_cli("db", "export", "--table", "holders", "--table", "fetch_rounds", db=url)
    tables = {json.loads(line).get("table") for line in result.stdout.splitlines()[1:]}
    assert tables == {"holders", "fetch_rounds"}
    bad = run_cli("db", "export", "--table", "holdrs", db=url)
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "no table 'holdrs'" in bad.stderr


def test_a_value_the_file_changed_is_refused_by_import(run_cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=3)
    lines = run_cli("db", "export", "--table", "fetch_rounds", db=url).stdout.splitlines()
    row = json.loads(lines[2])
    row["status"] = "failed"
    lines[2] = json.dumps(row)
    path = tmp_path / "changed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("db", "import", str(path), db=url)
    assert result.exit_code == 1
    assert "fetch_rounds id=2 has status 'ok' there and 'failed' in" in result.stderr


DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
DOC_MARK = "(a new database copied to PostgreSQL: the output)\n"
DOC_SOURCE = "sqlite:////home/user/.local/share/tracker/tracker.db"
DOC_DESTINATION = "postgresql+psycopg://tracker@db.example/tracker"


def test_the_documented_copy_output_is_what_a_copy_prints(run_cli: Run, tmp_path: Path) -> None:
    """docs/operations.md shows a new database copied with --verify; this makes that copy (to
    SQLite: the output is the same but for the URLs, which are put back) and compares.
    TRACKER_UPDATE_DOCS=1 writes the real output into the page instead."""
    import os
    import re

    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(DOC_MARK)
    command, shown = rest.split("\n", 1)
    shown, tail = shown.split("```", 1)
    assert command == f"$ tracker db copy --to {DOC_DESTINATION} --verify"
    source, destination = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    assert run_cli("db", "upgrade", db=source).exit_code == 0
    result = run_cli("db", "copy", "--from", source, "--to", destination, "--verify")
    assert result.exit_code == 0, result.stderr
    # the time taken, and the checksums (the ledger's rows carry the instant they were stored)
    seconds, checksum = re.compile(r"written in \d+\.\d s"), re.compile(r"  [0-9a-f]{16}  ")
    real = result.stdout.replace(source, DOC_SOURCE).replace(destination, DOC_DESTINATION)
    if os.environ.get("TRACKER_UPDATE_DOCS") == "1":
        DOC.write_text(head + DOC_MARK + command + "\n" + real + "```" + tail, encoding="utf-8")
        return

    def masked(output: str) -> str:
        return checksum.sub("  CHECKSUM  ", seconds.sub("written in N s", output))

    assert masked(real) == masked(shown)


def test_an_export_from_an_older_schema_imports_with_the_new_columns_defaulted(
    run_cli: Run, tmp_path: Path
) -> None:
    """Schema 0004 added holders.addresses_complete: a line without it takes its default."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=2)
    lines = run_cli("db", "export", "--table", "holders", db=url).stdout.splitlines()
    older = []
    for line in lines[1:]:
        row = json.loads(line)
        assert row.pop("addresses_complete") is False
        older.append(json.dumps(row))
    target = f"sqlite:///{tmp_path / 'b.db'}"
    from typer.testing import CliRunner

    from tracker.cli import app

    stdin = "\n".join(older) + "\n"  # no header either: rows alone are enough
    result = CliRunner().invoke(app, ["--db", target, "db", "import", "-"], input=stdin)
    assert result.exit_code == 0, result.stderr
    assert counts(target)["holders"] == counts(url)["holders"]
    src, dst = open_source(url), open_source(target)
    spec = transfer.spec_named("holders")
    with src.connect() as a, dst.connect() as b:
        assert transfer.digest(a, spec) == transfer.digest(b, spec)
    src.dispose()
    dst.dispose()


def test_a_copy_never_writes_to_its_source(run_cli: Run, tmp_path: Path) -> None:
    import hashlib

    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=5)
    path = tmp_path / "a.db"
    assert run_cli("db", "info", db=url).exit_code == 0  # a checkpoint: the file is settled
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    wal = path.with_name("a.db-wal")
    wal_before = wal.read_bytes() if wal.exists() else b""
    result = run_cli("db", "copy", "--from", url, "--to", f"sqlite:///{tmp_path / 'b.db'}")
    assert result.exit_code == 0, result.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert (wal.read_bytes() if wal.exists() else b"") == wal_before


def test_export_to_a_file_is_whole_or_not_there(run_cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=4)
    path = tmp_path / "backup.jsonl"
    result = run_cli("db", "export", "-o", str(path), db=url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    written = path.read_text(encoding="utf-8").splitlines()
    shown = run_cli("db", "export", db=url).stdout.splitlines()
    assert written[1:] == shown[1:] and len(written) == sum(counts(url).values()) + 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    nowhere = tmp_path / "missing" / "backup.jsonl"
    failed = run_cli("db", "export", "-o", str(nowhere), db=url)
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"tracker: error: cannot write the export to {nowhere}")
    assert not nowhere.parent.exists()


def test_an_export_that_fails_part_way_leaves_no_file(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracker.errors import StoreError

    url = f"sqlite:///{tmp_path / 'a.db'}"
    populate(run_cli, url, rounds=4)
    walk = transfer.walk

    def failing(conn: Any, spec: transfer.Spec, *, size: int) -> Any:
        if spec.name == "fetch_rounds":  # the tables before it are written by then
            raise StoreError("the database failed (disk I/O error)", operational=True)
        return walk(conn, spec, size=size)

    monkeypatch.setattr(transfer, "walk", failing)
    path = tmp_path / "backup.jsonl"
    result = run_cli("db", "export", "-o", str(path), db=url)
    assert result.exit_code == 1 and "disk I/O error" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if "backup" in p.name] == []


def test_a_copy_while_the_service_writes_is_consistent_and_a_second_copy_catches_up(
    run_cli: Run, db_url: str, other_url: str
) -> None:
    """The documented move with the service running: rounds keep arriving in the source
    during the first copy (read in one snapshot: never a quote without its round); the
    second copy, once the writer stopped, brings the rest, and --verify passes."""
    import threading

    populate(run_cli, db_url, rounds=300)
    stop = threading.Event()
    written = [300]

    def service() -> None:
        while not stop.is_set():
            add_rounds(db_url, 3, first=written[0])
            written[0] += 3

    writer = threading.Thread(target=service)
    src = open_source(db_url)
    dst, _ = open_destination(other_url)
    writer.start()
    try:
        first = copy_database(src, dst, batch_rows=40)
    finally:
        stop.set()
        writer.join()
    copied = {r.name: r.source_rows for r in first}
    assert written[0] > copied["fetch_rounds"] >= 300  # it copied a snapshot, mid-stream
    assert counts(other_url)["source_quotes"] == 3 * counts(other_url)["fetch_rounds"]
    second = {r.name: r for r in copy_database(src, dst, batch_rows=40)}
    assert second["fetch_rounds"].copied == written[0] - copied["fetch_rounds"]
    assert all(c.same for c in verify_copy(src, dst))
    src.dispose()
    dst.dispose()
