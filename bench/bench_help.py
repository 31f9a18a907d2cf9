"""Benchmark: `tracker --help` against `python -c "import typer"`, side by side.

    python bench/bench_help.py [--runs 20]

Each run starts a new interpreter; the two commands alternate so machine noise hits both
alike. Prints the median wall time of each (and of `python -c pass` for the interpreter's own
start) and the ratio tracker/typer (target: at most 1.5). Where /usr/bin/time exists it also
reports the median maximum resident set size of each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    'python -c "import typer"': [sys.executable, "-c", "import typer"],
    "tracker --help": [sys.executable, "-m", "tracker", "--help"],
}


def once(argv: list[str]) -> tuple[float, int | None]:
    gnu_time = shutil.which("time") if shutil.which("time") == "/usr/bin/time" else None
    wrapped = [gnu_time, "-f", "%M", *argv] if gnu_time else argv
    t = time.perf_counter()
    done = subprocess.run(wrapped, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t
    rss = int(done.stderr.strip().splitlines()[-1]) if gnu_time else None
    return elapsed, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    rss: dict[str, list[int]] = {k: [] for k in COMMANDS}
    for argv in COMMANDS.values():  # warm the OS cache first
        once(argv)
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():
            elapsed, kb = once(argv)
            times[name].append(elapsed)
            if kb is not None:
                rss[name].append(kb)
    for name in COMMANDS:
        mem = f", max RSS {statistics.median(rss[name]) / 1024:.0f} MiB" if rss[name] else ""
        print(f"{name:28} median {statistics.median(times[name]) * 1000:6.0f} ms{mem}")
    ratio = statistics.median(times["tracker --help"]) / statistics.median(
        times['python -c "import typer"']
    )
    print(f"tracker --help / import typer: {ratio:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
