"""Soak: `tracker run` for a while at the shortest interval (1 s) under injected faults, watching
for leaks.

    python bench/soak.py [--minutes 10] [--interval 1] [--chaos 0.25]

Samples the service's resident memory (VmRSS), open file descriptors and the SQLite WAL size
every 10 s (Linux /proc), then prints the growth over the run. Targets: RSS growth under
20 MB, a flat count of file descriptors, a bounded WAL file.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_exchange import FakeExchange  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument(
        "--interval", type=float, default=1, help="seconds, at least 1 (the config minimum)"
    )
    ap.add_argument("--chaos", type=float, default=0.25)
    args = ap.parse_args()
    with FakeExchange() as fx, tempfile.TemporaryDirectory() as tmp:
        fx.set_chaos(args.chaos, seed=11)
        cfg = Path(tmp) / "config.toml"
        cfg.write_text(
            f"[schedule]\ninterval_s = {args.interval}\n\n"
            "[fetch]\nretries = 1\nbackoff_s = 0.05\nround_timeout_s = 2\n\n"
            + fx.config_toml(timeout_s=0.4)
        )
        db = Path(tmp) / "soak.db"
        env = {**os.environ, "TRACKER_CONFIG": str(cfg), "TRACKER_DATABASE_URL": f"sqlite:///{db}"}
        log = Path(tmp) / "service.log"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracker", "run"], env=env, stderr=err, cwd=tmp
            )
            samples = []
            try:
                time.sleep(15)  # warm-up: imports, first rounds, caches
                end = time.monotonic() + args.minutes * 60
                while time.monotonic() < end:
                    wal = Path(f"{db}-wal")
                    samples.append(
                        (time.monotonic(), rss_kb(proc.pid), fds(proc.pid),
                         wal.stat().st_size if wal.exists() else 0)
                    )  # fmt: skip
                    print(
                        f"t={samples[-1][0] - samples[0][0]:6.0f}s rss={samples[-1][1] / 1024:7.1f} MB "
                        f"fds={samples[-1][2]:3d} wal={samples[-1][3] / 1024:8.1f} KB",
                        flush=True,
                    )
                    time.sleep(10)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(15)
        with sqlite3.connect(db) as conn:
            rounds = dict(conn.execute("SELECT status, count(*) FROM fetch_rounds GROUP BY status"))
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        first, last = samples[0], samples[-1]
        rss = [s[1] for s in samples]
        fd = [s[2] for s in samples]
        wal = [s[3] for s in samples]
        print()
        print(
            f"duration {args.minutes:g} min at {args.interval:g} s, chaos {args.chaos:g}; "
            f"rounds {rounds}; exit {code}; integrity {check}"
        )
        print(
            f"RSS: first {first[1] / 1024:.1f} MB, last {last[1] / 1024:.1f} MB, "
            f"growth {(last[1] - first[1]) / 1024:+.1f} MB, max {max(rss) / 1024:.1f} MB (target growth < 20 MB)"
        )
        print(
            f"file descriptors: min {min(fd)}, max {max(fd)}, first {fd[0]}, last {fd[-1]} (target: flat)"
        )
        print(f"WAL: max {max(wal) / 1024:.0f} KB, last {wal[-1] / 1024:.0f} KB (target: bounded)")


if __name__ == "__main__":
    main()
