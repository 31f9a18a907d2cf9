"""Every sample output in README.md and docs/*.md is real: this test runs each one.

A *sample* is a fenced code block (fence at the start of a line) whose first line starts with
``$ tracker ``. The test runs that command in-process and compares what it prints with the rest
of the block:

- when the block's output starts with ``tracker: error:``, the command must exit non-zero and
  the block is compared with its stderr;
- otherwise the command must exit 0 and the block is compared with its stdout.

Only deterministic commands can be samples: ``report --offline --at DATE``, ``history`` with a
fixed ``--to`` (the bundled daily prices make them deterministic), ``holdings list``,
``config show``, ``--version``, error examples. Output of commands that need live prices goes in
a block whose first line is not ``$ tracker …`` (e.g. ``(illustrative)``).

Each sample runs in a fresh temporary home (HOME, XDG_CONFIG_HOME, XDG_DATA_HOME under it; no
$TRACKER_CONFIG, no $TRACKER_DATABASE_URL, so the default database path is used) with that home
as the working directory and COLUMNS=80. A block whose first line is ``# file: NAME`` is written
to NAME in the working directory for the samples that follow it on the same page (e.g. the
config file an error sample reads).

Normalisation, kept small on purpose:

- in the command's output, the temporary home is shown as ``/home/user``; trailing spaces on
  each line and trailing blank lines are dropped;
- on both sides before comparing (never rewritten): the value of ``"generated_at"`` (the wall
  clock of the run).

Regenerate the samples after a behaviour change, then review the diff and run without it::

    TRACKER_UPDATE_DOCS=1 python3 -m pytest -q tests/test_doc_samples.py
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tracker.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROMPT = "$ tracker "
FILE_MARK = "# file: "
ERROR_MARK = "tracker: error:"
UPDATE = os.environ.get("TRACKER_UPDATE_DOCS") == "1"
HOME_SHOWN_AS = "/home/user"

# Compared as equal on both sides; each entry says what it hides and why.
IGNORED: list[tuple[re.Pattern[str], str]] = [
    # the wall-clock time the report was made
    (re.compile(r'("generated_at": )"[^"]*"'), r'\1"…"'),
]

_FENCE = re.compile(r"^(`{3,}|~{3,})")

# Commands that need live prices: they run against the fake exchange (a ./config.toml points
# every source at it; status and sources see one fetch round first). Their numbers (prices,
# latencies, instants, ages) differ from run to run, so they are compared with every number
# masked and runs of spaces folded: the words, columns, outcomes and layout are checked.
LIVE = ("fetch", "status", "run", "verify")  # `run --once` logs on stderr: that is what it shows
_NUMBER = re.compile(r"\d+")
_SPACES = re.compile(r"[ ─]+")


@dataclass(frozen=True)
class Block:
    start: int  # index of the first line inside the fence
    end: int  # index of the closing fence
    lines: list[str]


@dataclass(frozen=True)
class Sample:
    page: Path
    ordinal: int  # the n-th sample of its page
    line: int  # 1-based line of the command, for messages
    command: str
    expected: str
    files: tuple[tuple[str, str], ...]  # (name, text) written before running


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, fences at the start of a line."""
    lines = text.split("\n")
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence = m.group(1)
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != fence:
            j += 1
        found.append(Block(start=i + 1, end=j, lines=lines[i + 1 : j]))
        i = j + 1
    return found


def samples_of(page: Path) -> list[Sample]:
    found: list[Sample] = []
    files: list[tuple[str, str]] = []
    for block in blocks(page.read_text(encoding="utf-8")):
        first = block.lines[0] if block.lines else ""
        if first.startswith(FILE_MARK):
            files.append((first[len(FILE_MARK) :].strip(), "\n".join(block.lines[1:]) + "\n"))
        elif first.startswith(PROMPT):
            found.append(
                Sample(
                    page=page,
                    ordinal=len(found),
                    line=block.start + 1,
                    command=first[2:],
                    expected="\n".join(block.lines[1:]),
                    files=tuple(files),
                )
            )
    return found


SAMPLES = [s for page in PAGES for s in samples_of(page)]


def shown(text: str, home: Path) -> str:
    """The output as a page shows it."""
    text = text.replace(str(home), HOME_SHOWN_AS)
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip("\n")


def comparable(text: str) -> str:
    for pattern, replacement in IGNORED:
        text = pattern.sub(replacement, text)
    return text


def live_comparable(text: str) -> list[str]:
    lines = (_SPACES.sub(" ", _NUMBER.sub("0", line)).strip() for line in text.split("\n"))
    return [line for line in lines if line]


def rewrite(sample: Sample, output: str) -> None:
    """Replace the sample's output in its page (found by its ordinal, so earlier rewrites
    that change line counts do not matter)."""
    text = sample.page.read_text(encoding="utf-8")
    current = samples_of(sample.page)[sample.ordinal]
    assert current.command == sample.command, "the page changed while updating"
    block = [b for b in blocks(text) if b.lines and b.lines[0].startswith(PROMPT)][sample.ordinal]
    lines = text.split("\n")
    lines[block.start : block.end] = [block.lines[0], *output.split("\n")]
    sample.page.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home as a sample sees it; the autouse fixture already chdirs to tmp_path."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / ".local" / "share"))
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    return tmp_path


def test_the_pages_have_samples() -> None:
    assert len(SAMPLES) >= 10, [f"{s.page.name}:{s.line}" for s in SAMPLES]


@pytest.mark.parametrize(
    "sample", SAMPLES, ids=[f"{s.page.relative_to(ROOT)}:{s.line}" for s in SAMPLES]
)
def test_sample_output_is_what_the_command_prints(
    sample: Sample, home: Path, request: pytest.FixtureRequest
) -> None:
    for name, text in sample.files:
        (home / name).write_text(text, encoding="utf-8")
    args = shlex.split(sample.command)[1:]
    live = args[0] in LIVE
    if live and args[0] == "verify":  # the fake explorer pair, serving each holder's claim
        from tests.verify_support import serve_the_claims

        serve_the_claims(request.getfixturevalue("fake_explorer"), home)
    elif live:
        fake = request.getfixturevalue("fake_exchange")
        (home / "config.toml").write_text(fake.config_toml(timeout_s=2), encoding="utf-8")
        if args[0] == "status":  # something to show
            assert CliRunner().invoke(app, ["fetch"], catch_exceptions=False).exit_code == 0
    result = CliRunner().invoke(app, args, prog_name="tracker", catch_exceptions=False)
    failed = result.exit_code != 0
    actual = shown(result.stderr if failed or args[0] == "run" else result.stdout, home)
    where = f"{sample.page.relative_to(ROOT)}:{sample.line}: $ {sample.command}"
    if live:
        if UPDATE and live_comparable(actual) != live_comparable(sample.expected):
            rewrite(sample, actual)
            return
        assert result.exit_code == 0, f"{where}: exited {result.exit_code}:\n{result.output}"
        assert live_comparable(actual) == live_comparable(sample.expected), (
            f"{where}: the output differs (numbers aside); if the change is intended, "
            "regenerate with TRACKER_UPDATE_DOCS=1"
        )
        return
    if UPDATE:
        if comparable(actual) != comparable(sample.expected):  # no churn from ignored parts
            rewrite(sample, actual)
        return
    if sample.expected.startswith(ERROR_MARK):
        assert failed, f"{where}: an error sample, but the command exited 0"
    else:
        assert not failed, f"{where}: exited {result.exit_code}:\n{result.output}"
    assert comparable(actual) == comparable(sample.expected), (
        f"{where}: the output differs; if the change is intended, regenerate with "
        "TRACKER_UPDATE_DOCS=1"
    )
