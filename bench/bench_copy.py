"""Benchmark: `tracker db copy` from SQLite to PostgreSQL against raw psycopg COPY of the same
rows (issue 12: throughput at least half the raw copy's; peak memory flat in the table size).

    python bench/bench_copy.py [--minutes 525600] [--repeat 3] [--profile]

Builds a SQLite tracker database (schema, bundled history and seeds, then bench_growth.fill:
one-minute rounds, 5 quotes and a consensus each; 525,600 minutes is a year, 2.6 M quotes),
once per size, cached in the temp dir. Then copies it into fresh PostgreSQL databases
(TRACKER_TEST_POSTGRES_URL, else the local server), each copy in a new process, --repeat
times each, alternating raw, tool, tool, raw, raw, tool...:

- raw: the destination migrated to tracker's schema with no rows
  (tracker.store.copy.open_destination), then plain sqlite3 reads and psycopg
  ``COPY t (cols) FROM STDIN`` / ``write_row`` of every row of every table, in
  transfer.ORDER, one transaction per table; ``SET TIME ZONE 'UTC'`` and nothing else.
- tool: the same fresh destination, then copy_database(open_source(..), open_destination(..)).

Only the copy is timed (not the migration, nor starting the process). Prints each run's rows,
seconds, rows/s, rows/s on source_quotes (its own lap), and peak RSS (VmHWM), and checks
every destination table holds as many rows as the source's and every destination the same
values (a checksum of each table's rows as text, in UTC); then the ratio of the tool's
throughput to raw's (best of each; target >= 0.5). Then one more copy of each kind at 1/8 of
the minutes: the peaks at the two sizes and their ratio (flat: close to 1). --profile: one
more tool copy under cProfile, its top functions printed (on stderr). Every PostgreSQL
database made is dropped.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
import sqlalchemy as sa
from bench_growth import fill

from tracker.config import load_settings
from tracker.store.copy import copy_database, open_destination, open_source
from tracker.store.migrate import SCHEMA_HEAD, open_database
from tracker.store.transfer import ORDER

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIG = "source_quotes"


# --- the source ----------------------------------------------------------------------------


def source_db(cache: Path, minutes: int) -> Path:
    """A SQLite tracker database with ``minutes`` one-minute rounds, built once per size."""
    path = cache / f"copy-{minutes}-{SCHEMA_HEAD}.db"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    for p in (part, Path(f"{part}-wal"), Path(f"{part}-shm")):
        p.unlink(missing_ok=True)
    t = time.perf_counter()
    open_database(f"sqlite:///{part}", settings=load_settings(None)).engine.dispose()
    fill(part, minutes, dt.datetime.now(dt.UTC).replace(second=0, microsecond=0))
    conn = sqlite3.connect(part)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    part.rename(path)
    print(
        f"built {path.name}: {minutes:,} rounds in {time.perf_counter() - t:.1f} s, "
        f"{path.stat().st_size / 2**20:.0f} MiB",
        flush=True,
    )
    return path


def source_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ORDER}
    finally:
        conn.close()


# --- PostgreSQL databases ------------------------------------------------------------------


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it."""
    parsed = sa.engine.make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class Databases:
    """Fresh databases on the server, every one dropped by drop_all."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.names: list[str] = []

    def new(self) -> str:
        name = f"bench_copy_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(libpq(self.admin), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.names.append(name)
        url = sa.engine.make_url(self.admin).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = sa.engine.make_url(url).database
        with psycopg.connect(libpq(self.admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.remove(str(name))

    def drop_all(self) -> None:
        for name in list(self.names):
            self.drop(sa.engine.make_url(self.admin).set(database=name).render_as_string(False))


def destination_counts(url: str) -> dict[str, int]:
    with psycopg.connect(libpq(url)) as conn:
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in ORDER}


def fingerprint(url: str) -> list[Any]:
    """Every table's sum of hashtext(row as text), in UTC: equal on two destinations that
    hold the same values (so raw's naive instants went in as the tool's UTC ones)."""
    with psycopg.connect(libpq(url)) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return [
            conn.execute(
                f'SELECT coalesce(sum(hashtext(t::text)::bigint), 0) FROM "{n}" t'
            ).fetchone()[0]
            for n in ORDER
        ]


# --- the two copies (each run in a child process) ------------------------------------------


def raw_copy(source: Path, url: str) -> tuple[Any, Any]:
    """sqlite3 reads, psycopg COPY write_row; one transaction per table. Returns the copy
    (to time) and its cleanup."""
    src = sqlite3.connect(source)
    dst = psycopg.connect(libpq(url))
    dst.execute("SET TIME ZONE 'UTC'")  # sqlite3 hands instants over as naive UTC text
    dst.commit()

    def run(laps: dict[str, float]) -> int:
        rows = 0
        for table in ORDER:
            t = time.perf_counter()
            cols = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]
            names = ", ".join(f'"{c}"' for c in cols)
            cur = src.execute(f'SELECT {names} FROM "{table}"')
            with dst.cursor() as pg, pg.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in cur:
                    copy.write_row(row)
                    rows += 1
            dst.commit()
            laps[table] = time.perf_counter() - t
        return rows

    def close() -> None:
        src.close()
        dst.close()

    return run, close


class Laps:
    """A copy_database progress that times each table."""

    def __init__(self, laps: dict[str, float]) -> None:
        self.laps = laps
        self.current: str | None = None
        self.since = 0.0
        self.rows = 0

    def table(self, name: str, rows: int) -> None:
        self.close()
        self.current, self.since = name, time.perf_counter()

    def advance(self, rows: int) -> None:
        self.rows += rows

    def close(self) -> None:
        if self.current is not None:
            self.laps[self.current] = time.perf_counter() - self.since
            self.current = None


def tool_copy(source: Path, url: str) -> tuple[Any, Any]:
    """copy_database, as `tracker db copy` calls it. Returns the copy (to time) and its
    cleanup."""
    src = open_source(f"sqlite:///{source}")
    dst, _ = open_destination(url)

    def run(laps: dict[str, float]) -> int:
        progress = Laps(laps)
        results = copy_database(src, dst, progress=progress)
        progress.close()
        return sum(r.copied for r in results)

    def close() -> None:
        src.dispose()
        dst.dispose()

    return run, close


def peak_rss_kib() -> int:
    """This process's peak resident set (KiB): VmHWM, which starts afresh at exec (ru_maxrss
    keeps the parent's high-water mark across fork and exec on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(kind: str, source: Path, url: str, profile: bool) -> None:
    """One copy into ``url`` (already migrated); prints a JSON line of its figures."""
    start_kib = peak_rss_kib()
    laps: dict[str, float] = {}
    run, close = (raw_copy if kind == "raw" else tool_copy)(source, url)
    prof = cProfile.Profile() if profile else None
    try:
        t = time.perf_counter()
        rows = prof.runcall(run, laps) if prof is not None else run(laps)
        seconds = time.perf_counter() - t
    finally:
        close()
    peak_kib = peak_rss_kib()
    if prof is not None:
        stats = pstats.Stats(prof, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "laps": laps,
                "start_kib": start_kib,
                "peak_kib": peak_kib,
            }
        )
    )


def spawn(kind: str, source: Path, dbs: Databases, *, profile: bool = False) -> dict[str, Any]:
    """A fresh database, migrated here (untimed); the copy in a new process; the rows
    checked against the source's; the database dropped."""
    url = dbs.new()
    try:
        open_destination(url)[0].dispose()
        cmd = [sys.executable, __file__, "--child", kind, "--source", str(source), "--to", url]
        if profile:
            cmd.append("--profile")
        done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        want, got = source_counts(source), destination_counts(url)
        if want != got:
            raise SystemExit(
                f"{kind}: the destination's rows {got} differ from the source's {want}"
            )
        result["fingerprint"] = fingerprint(url)
        return result
    finally:
        dbs.drop(url)


# --- the comparison ------------------------------------------------------------------------


def show(kind: str, r: dict[str, Any], big_rows: int) -> None:
    big = r["laps"].get(BIG, 0.0)
    print(
        f"{kind:4} {r['rows']:>10,} rows  {r['seconds']:7.1f} s  {r['rows'] / r['seconds']:>9,.0f} "
        f"rows/s  {BIG} {big_rows / big:>9,.0f} rows/s  peak RSS {r['peak_kib'] / 1024:6.0f} MiB "
        f"(after imports {r['start_kib'] / 1024:.0f} MiB)  row counts = source's",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=int, default=525_600)
    ap.add_argument("--repeat", type=int, default=3, help="copies of each kind, alternated")
    ap.add_argument("--fraction", type=int, default=8, help="the smaller size: minutes / this")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tracker-bench")
    ap.add_argument("--profile", action="store_true", help="one more tool copy under cProfile")
    ap.add_argument("--child", choices=("raw", "tool"), help=argparse.SUPPRESS)
    ap.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--to", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.source, args.to, args.profile)
        return

    admin = os.environ.get("TRACKER_TEST_POSTGRES_URL") or ADMIN
    big = source_db(args.cache, args.minutes)
    small = source_db(args.cache, args.minutes // args.fraction)
    counts = source_counts(big)
    print(
        f"source: {args.minutes:,} minutes, {sum(counts.values()):,} rows "
        f"({', '.join(f'{t} {n:,}' for t, n in counts.items() if n)})",
        flush=True,
    )
    dbs = Databases(admin)
    try:
        order = ["raw", "tool", "tool", "raw"] * ((args.repeat + 1) // 2)
        runs: dict[str, list[dict[str, Any]]] = {"raw": [], "tool": []}
        for kind in order[: 2 * args.repeat]:
            r = spawn(kind, big, dbs)
            show(kind, r, counts[BIG])
            runs[kind].append(r)
        if len({str(r["fingerprint"]) for v in runs.values() for r in v}) != 1:
            raise SystemExit("the destinations' values differ between the runs")
        best = {k: max(r["rows"] / r["seconds"] for r in v) for k, v in runs.items()}
        ratio = best["tool"] / best["raw"]
        print(
            f"throughput, best of {args.repeat}: tool {best['tool']:,.0f} rows/s, raw "
            f"{best['raw']:,.0f} rows/s: ratio {ratio:.2f} (target >= 0.5: "
            f"{'met' if ratio >= 0.5 else 'NOT met'})"
        )
        big_rate = {k: max(counts[BIG] / r["laps"][BIG] for r in v) for k, v in runs.items()}
        print(
            f"{BIG}: tool {big_rate['tool']:,.0f} rows/s, raw {big_rate['raw']:,.0f} rows/s: "
            f"ratio {big_rate['tool'] / big_rate['raw']:.2f}"
        )

        small_rows = sum(source_counts(small).values())
        smalls: list[dict[str, Any]] = []
        for kind in ("raw", "tool"):
            little = spawn(kind, small, dbs)
            smalls.append(little)
            peak_small = little["peak_kib"]
            peak_big = max(r["peak_kib"] for r in runs[kind])
            print(
                f"peak RSS, {kind}: {small_rows:,} rows {peak_small / 1024:.0f} MiB, "
                f"{sum(counts.values()):,} rows {peak_big / 1024:.0f} MiB: ratio "
                f"{peak_big / peak_small:.2f} (flat: close to 1)",
                flush=True,
            )
        if smalls[0]["fingerprint"] != smalls[1]["fingerprint"]:
            raise SystemExit("the destinations' values differ between raw and tool")
        if args.profile:
            r = spawn("tool", big, dbs, profile=True)
            show("prof", r, counts[BIG])
    finally:
        dbs.drop_all()


if __name__ == "__main__":
    main()
