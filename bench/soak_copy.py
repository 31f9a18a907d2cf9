"""Soak: issue 12's "Done when" for `tracker db copy`, end to end, with real processes.

    python bench/soak_copy.py [--minutes 525600] [--kills 20] [--seed 12]

Builds a SQLite database with the shipped ledger, a year of one-minute rounds (bench_growth's
filler: 5 quotes and a consensus a round), a user's edits (a holder added, observations added
and one removed) and on-chain checks (a check with its explorers' answers, transactions, a
daily series, an address marked synced). Then copies it to a new PostgreSQL database with
`tracker db copy`, killing the copy with SIGKILL ``--kills`` times at seeded random points (a
quarter early, 0.05 to 1.5 s after start: start-up, migration, the check; the rest once the
destination has gained a random share of the round rows it still lacks, so they land
mid-copy; a run that ends first is not counted), and runs it to the end with `--verify`. It prints where each kill landed (the rows
the destination held), checks `--verify` passed, the row counts match, and `tracker report
--format json --at DAY` is identical on both databases but for `generated_at`. Drops what it created.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_growth import fill

from tracker.store import transfer

ADMIN = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
UTC = dt.UTC


def tracker(
    *args: str, db: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tracker", *(["--db", db] if db else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def user_edits(url: str) -> None:
    tracker("holders", "add", "atlantis", "--name", "Atlantis", "--country", "AQ",
            "--population", "1000", db=url)  # fmt: skip
    tracker("holdings", "add", "atlantis", "--btc", "12.34567891", "--bound", "at_least",
            "--as-of", "2025-02-01", "--basis", "reported", "--source", "Atlantis Gazette",
            "--cost-basis-usd", "1234567.891", db=url)  # fmt: skip
    tracker("holdings", "add", "el-salvador", "--btc", "6100", "--as-of", "2025-02-02",
            "--basis", "official", "--source", "a user's note", db=url)  # fmt: skip
    listed = json.loads(tracker("holdings", "list", "-f", "json", db=url).stdout)["holders"]
    wrong = [o["id"] for h in listed for o in h["observations"] if o["source"] == "a user's note"]
    tracker("holdings", "remove", str(wrong[0]), db=url)


def onchain_checks(url: str) -> None:
    engine = sa.create_engine(url)
    at = "2025-11-01 12:00:00.000000"
    with engine.begin() as conn:
        holder = conn.execute(sa.text("SELECT id FROM holders WHERE slug='el-salvador'")).scalar()
        address_id, address = conn.execute(
            sa.text("SELECT id, address FROM addresses WHERE holder_id=:h ORDER BY id LIMIT 1"),
            {"h": holder},
        ).one()
        check = conn.execute(
            sa.text(
                "INSERT INTO verify_checks (holder_id, started_at, finished_at, status, height,"
                " chain_sats, chain_bound, addresses, explorers, claim_sats, claim_bound,"
                " verdict, difference_sats) VALUES (:h, :at, :at, 'verified', 920000,"
                " 615000000000, 'exact', 1, 'blockstream,mempool', 610000000000, 'at_least',"
                " 'matches', 5000000000) RETURNING id"
            ),
            {"h": holder, "at": at},
        ).scalar()
        for explorer in ("blockstream", "mempool"):
            conn.execute(
                sa.text(
                    "INSERT INTO verify_answers (check_id, explorer, address, sats, height,"
                    " outcome, latency_ms, attempts) VALUES (:c, :e, :a, 615000000000, 920000,"
                    " 'accepted', 80, 1)"
                ),
                {"c": check, "e": explorer, "a": address},
            )
        for n in range(30):
            day = dt.date(2025, 10, 1) + dt.timedelta(days=n)
            conn.execute(
                sa.text(
                    "INSERT INTO address_txs (address_id, txid, height, time, value_sats)"
                    " VALUES (:a, :t, :h, :time, 100000000)"
                ),
                {"a": address_id, "t": f"{n:064x}", "h": 915000 + n, "time": f"{day} 00:00:00"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO onchain_daily (holder_id, date, sats, addresses)"
                    " VALUES (:h, :d, :s, 1)"
                ),
                {"h": holder, "d": str(day), "s": 100_000_000 * (n + 1)},
            )
        conn.execute(
            sa.text("UPDATE addresses SET synced_height = 920000 WHERE id = :a"), {"a": address_id}
        )
    engine.dispose()


ROUND_TABLES = ("fetch_rounds", "source_quotes", "consensus_prices")


def progress(url: str) -> int:
    """The rows of the round tables the destination holds, from their highest ids (three
    index lookups: cheap enough to poll while a copy runs)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("source_quotes"):
                return 0
            return sum(
                int(conn.execute(sa.text(f"SELECT COALESCE(max(id), 0) FROM {t}")).scalar_one())
                for t in ROUND_TABLES
            )
    finally:
        engine.dispose()


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        result = {s.name: transfer.count(conn, s) for s in transfer.specs()}
    engine.dispose()
    return result


def report(url: str, *extra: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        tracker("report", "--offline", "--format", "json", *extra, db=url).stdout
    )
    data.pop("generated_at")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=525_600)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="soak-copy-"))
    os.environ["HOME"] = str(home)
    source = f"sqlite:///{home / 'tracker.db'}"
    name = f"soak_copy_{uuid.uuid4().hex[:10]}"
    destination = sa.engine.make_url(ADMIN).set(database=name).render_as_string(False)
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    t = time.perf_counter()
    tracker("db", "upgrade", db=source)
    fill(home / "tracker.db", args.minutes, dt.datetime(2025, 12, 1))
    user_edits(source)
    onchain_checks(source)
    expected = counts(source)
    print(f"source: {sum(expected.values()):,} rows, built in {time.perf_counter() - t:.0f} s")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        kills = 0
        cmd = [sys.executable, "-m", "tracker", "--db", source, "db", "copy", "--to", destination]
        total = sum(expected[t] for t in ROUND_TABLES)
        while kills < args.kills:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            started, done = time.perf_counter(), progress(destination)
            if rng.random() < 0.25 or done >= total:  # early: start-up, migration, the check
                when, target = f"{rng.uniform(0.05, 1.5):.2f} s in", None
                time.sleep(float(when.split()[0]))
            else:  # once the copy has gained a random share of what it still lacks
                target = done + int(rng.uniform(0.05, 0.95) * (total - done))
                when = f"at {target:,} round-table rows"
                while proc.poll() is None and progress(destination) < target:
                    time.sleep(0.05)
            if proc.poll() is not None:
                print(f"  ran to the end ({when}: exit {proc.returncode})")
                continue
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            print(f"kill {kills:2} {when}, {time.perf_counter() - started:5.1f} s after start: "
                  f"the destination holds {progress(destination):,} of {total:,}")  # fmt: skip
        t = time.perf_counter()
        final = subprocess.run([*cmd, "--verify"], capture_output=True, text=True)
        print(final.stdout, end="")
        print(f"final run: exit {final.returncode} in {time.perf_counter() - t:.0f} s")
        assert final.returncode == 0, final.stderr
        assert counts(destination) == expected, "row counts differ"
        # at fixed instants: a report of "now" has ages and windows that move with the clock
        for day in ("2025-11-30", "2025-06-01"):
            ours, theirs = report(source, "--at", day), report(destination, "--at", day)
            assert ours == theirs, f"reports at {day} differ"
        print("row counts equal; --verify passed; report --format json --at identical on both")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
