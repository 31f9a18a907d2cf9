"""`tracker holders list|add|remove` and `tracker holdings list|add|import|export`: the
ledger's commands, on SQLite and PostgreSQL. Bad input gets one line, exit 1 or 2, and nothing
written."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tracker.ledger_csv import HOLDER_COLUMNS, OBSERVATION_COLUMNS, shipped_text

Run = Callable[..., Result]

SHIPPED_HOLDERS = 17
SHIPPED_OBSERVATIONS = 45
HEADER = ",".join(OBSERVATION_COLUMNS)
ES_0616 = "National Bitcoin Office, +240 BTC since 2024-12-19, as reported"  # shipped, id 10


def one_error_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def holders(run_cli: Run, *extra: str) -> dict[str, dict[str, object]]:
    data = json.loads(ok(run_cli("holders", "list", "-f", "json", *extra)))
    return {h["slug"]: h for h in data["holders"]}


def observations(run_cli: Run, *extra: str) -> list[dict[str, object]]:
    data = json.loads(ok(run_cli("holdings", "list", "-f", "json", *extra)))
    return [o for h in data["holders"] for o in h["observations"]]


def snapshot(run_cli: Run) -> tuple[str, str]:
    """Everything a command could have written: the holders (removed ones too) and every live
    observation."""
    return (
        ok(run_cli("holders", "list", "--removed", "-f", "json")),
        ok(run_cli("holdings", "list", "-f", "json")),
    )


def us_id(run_cli: Run) -> str:
    """The id of an observation of another holder than El Salvador."""
    return str(observations(run_cli, "united-states")[0]["id"])


def es_id(run_cli: Run, as_of: str) -> int:
    found = [o["id"] for o in observations(run_cli, "el-salvador") if o["as_of"] == as_of]
    assert len(found) == 1
    return int(str(found[0]))


# --- holders ------------------------------------------------------------------------------


def test_holders_list_shows_every_shipped_holder_with_its_counts(run_cli: Run, db_url: str) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    listed = holders(run_cli)
    assert len(listed) == SHIPPED_HOLDERS
    es = listed["el-salvador"]
    assert isinstance(es.pop("id"), int)
    assert es == {
        "slug": "el-salvador", "name": "El Salvador", "country_code": "SV", "kind": "state",
        "population": 6338193, "population_year": 2024,
        "population_source": "World Bank SP.POP.TOTL, 2024", "note": None,
        "observations": 14, "removed": False,
    }  # fmt: skip
    assert listed["north-korea"]["kind"] == "state_linked"
    assert sum(int(str(h["observations"])) for h in listed.values()) == SHIPPED_OBSERVATIONS
    table = ok(run_cli("holders", "list"))
    assert "el-salvador" in table and "World Bank SP.POP.TOTL, 2024" in table


def test_holders_list_as_csv_is_a_holders_csv(run_cli: Run) -> None:
    from tracker.ledger_csv import read_holders

    text = ok(run_cli("holders", "list", "-f", "csv"))
    assert text.splitlines()[0] == ",".join(HOLDER_COLUMNS)
    today = __import__("datetime").date(2026, 1, 1)
    shipped = read_holders(shipped_text("holders.csv"), name="holders.csv", today=today)
    assert read_holders(text, name="listed", today=today) == shipped
    md = ok(run_cli("holders", "list", "-f", "markdown")).splitlines()
    assert md[0].startswith("| slug | name |") and len(md) == 2 + SHIPPED_HOLDERS


@pytest.mark.parametrize("width", [60, 80, 120])
def test_holders_list_fits_the_terminal(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    text = ok(run_cli("holders", "list"))
    assert max(len(line) for line in text.splitlines()) <= width, text


def test_holders_add_validates_and_refuses_a_live_slug(run_cli: Run, db_url: str) -> None:
    done = run_cli(
        "holders", "add", "atlantis", "--name", "Atlantis", "--country", "aq", "--kind",
        "state_linked", "--population", "1000", "--population-year", "2024",
        "--population-source", "Census 2024", "--note", "sunk", db=db_url,
    )  # fmt: skip
    assert ok(done).startswith("added holder atlantis (id ")
    added = holders(run_cli)["atlantis"]
    assert f"(id {added.pop('id')})" in done.stdout
    assert added == {
        "slug": "atlantis", "name": "Atlantis", "country_code": "AQ", "kind": "state_linked",
        "population": 1000, "population_year": 2024, "population_source": "Census 2024",
        "note": "sunk", "observations": 0, "removed": False,
    }  # fmt: skip
    before = snapshot(run_cli)
    line = one_error_line(run_cli("holders", "add", "el-salvador", "--name", "X"))
    assert "el-salvador exists already" in line and "`tracker holders list`" in line
    assert snapshot(run_cli) == before


def test_removed_holders_keep_their_ids_and_come_back_under_them(run_cli: Run, db_url: str) -> None:
    """Ids are never reused: a removed holder's row stays (a tombstone), so the next holder
    gets a larger id, and adding the removed slug again brings back the same id."""
    ok(run_cli("holders", "add", "atlantis", "--name", "Atlantis", db=db_url))
    first = _id_of(run_cli, "atlantis")
    assert ok(run_cli("holders", "remove", "atlantis")) == f"removed holder atlantis (id {first})\n"
    assert "atlantis" not in holders(run_cli)
    shown = holders(run_cli, "--removed")["atlantis"]
    assert shown["removed"] is True
    assert "REMOVED: Atlantis" in ok(run_cli("holders", "list", "--removed"))
    ok(run_cli("holders", "add", "lemuria", "--name", "Lemuria"))
    assert _id_of(run_cli, "lemuria") > first
    back = ok(run_cli("holders", "add", "atlantis", "--name", "Atlantis"))
    assert back.startswith(f"brought back holder atlantis (id {first})")
    assert _id_of(run_cli, "atlantis") == first


def _id_of(run_cli: Run, slug: str) -> int:
    return int(str(holders(run_cli, "--removed")[slug]["id"]))


def test_a_holder_with_observations_is_removed_only_when_asked(run_cli: Run, db_url: str) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    before = snapshot(run_cli)
    line = one_error_line(run_cli("holders", "remove", "el-salvador"))
    assert "el-salvador has 14 observation(s)" in line and "--with-observations" in line
    assert snapshot(run_cli) == before  # nothing written
    done = ok(run_cli("holders", "remove", "el-salvador", "--with-observations"))
    assert done.startswith("removed holder el-salvador (id ") and "and 14 observation(s)" in done
    assert "el-salvador" not in holders(run_cli)
    assert len(observations(run_cli)) == SHIPPED_OBSERVATIONS - 14
    assert "(removed)" not in ok(run_cli("holdings", "sync"))  # sync does not bring it back
    assert "el-salvador" not in holders(run_cli)
    line = one_error_line(run_cli("holdings", "list", "--holder", "el-salvador"))
    assert "unknown holder 'el-salvador'" in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["holders", "add", "x", "--name", "X", "--kind", "royal"], "unknown kind 'royal'"),
        (["holders", "add", "x", "--name", "X", "--country", "XYZ"], "two-letter"),
        (["holders", "add", "X!", "--name", "X"], "holder slug"),
        (["holders", "add", "x", "--name", "X", "--population-year", "1800"], "population year"),
        (["holders", "remove", "atlantis"], "unknown holder 'atlantis'"),
        (["holders", "list", "--removed", "-f", "csv"], "--removed"),
    ],
)
def test_bad_holder_input_is_one_line_and_nothing_written(
    run_cli: Run, args: list[str], needle: str
) -> None:
    before = snapshot(run_cli)
    assert needle in one_error_line(run_cli(*args))
    assert snapshot(run_cli) == before


def test_usage_errors_are_exit_2(run_cli: Run) -> None:
    assert "--name" in one_error_line(run_cli("holders", "add", "x"), code=2)
    assert "--format" in one_error_line(run_cli("holders", "list", "-f", "yaml"), code=2)


# --- holdings list and add ----------------------------------------------------------------


def test_holdings_list_narrows_to_the_holders_given(run_cli: Run) -> None:
    both = observations(run_cli, "--holder", "germany", "--holder", "finland")
    assert len(both) == 4 and {o["holder"] for o in both} == {"germany", "finland"}
    assert len(observations(run_cli, "germany")) == 3  # the positional argument still works
    assert len(observations(run_cli, "germany", "--holder", "finland")) == 4
    line = one_error_line(run_cli("holdings", "list", "--holder", "germany", "--holder", "oz"))
    assert "unknown holder 'oz'" in line


def test_a_correction_points_at_what_it_corrects(run_cli: Run, db_url: str) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    old = es_id(run_cli, "2025-06-16")
    done = run_cli(
        "holdings", "add", "el-salvador", "--btc", "6209.5", "--as-of", "2025-06-16", "--basis",
        "official", "--source", "Bitcoin Office, corrected", "--scope", "government", "--url",
        "https://example.org/es", "--published", "2025-06-20", "--supersedes", str(old),
    )  # fmt: skip
    assert f"correcting observation {old}" in ok(done)
    rows = {o["id"]: o for o in observations(run_cli, "el-salvador")}
    new = next(o for o in rows.values() if o["source"] == "Bitcoin Office, corrected")
    assert new["supersedes"] == old and new["url"] == "https://example.org/es"
    assert new["published"] == "2025-06-20" and new["origin"] == "user"
    assert rows[old]["corrected_by"] == new["id"] and rows[old]["origin"] == "ledger"
    table = ok(run_cli("holdings", "list", "el-salvador"))
    assert f"CORRECTED by id {new['id']}" in table and f"corrects id {old}" in table
    text = ok(run_cli("holdings", "list", "el-salvador", "-f", "csv"))
    header = next(csv.reader(io.StringIO(text)))
    for column in ("scope", "url", "published", "supersedes", "corrected_by", "origin"):
        assert column in header
    md = ok(run_cli("holdings", "list", "el-salvador", "-f", "markdown")).splitlines()
    assert len(md) == 2 + 15


@pytest.mark.parametrize("width", [60, 80, 120, 200])
def test_holdings_list_with_corrections_and_long_links_fits(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    url = "https://example.org/" + "a-very-long-path-segment/" * 8
    ok(run_cli(
        "holdings", "add", "el-salvador", "--btc", "6209.12345678", "--bound", "at_least",
        "--as-of", "2025-06-16", "--basis", "official", "--source", "corrected", "--url", url,
        "--supersedes", str(es_id(run_cli, "2025-06-16")), "--scope", "not_sovereign",
    ))  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))
    text = ok(run_cli("holdings", "list"))
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "not_sovereign" in text
    if width < 160:  # a grid from 160 columns on: its cells fold
        assert "CORRECTED by id" in text and "corrects id" in text


ADD = ["holdings", "add", "el-salvador", "--btc", "1", "--as-of", "2025-05-01", "--basis",
       "official", "--source", "a new source"]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--scope", "treasury"], "unknown scope 'treasury'"),
        (["--url", "ftp://example.org/x"], "not an http(s) link"),
        (["--url", "javascript:alert(1)"], "not an http(s) link"),
        (["--published", "2025-04-30"], "published 2025-04-30 is before the as-of date"),
        (["--supersedes", "99999"], "--supersedes 99999: no such observation"),
        (["--supersedes", "US"], "another holder's"),
    ],
)
def test_bad_observation_input_is_one_line_and_nothing_written(
    run_cli: Run, db_url: str, extra: list[str], needle: str
) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    extra = [us_id(run_cli) if a == "US" else a for a in extra]
    before = snapshot(run_cli)
    assert needle in one_error_line(run_cli(*ADD, *extra))
    assert snapshot(run_cli) == before


def test_unknown_basis_is_refused(run_cli: Run) -> None:
    args = [a if a != "official" else "rumour" for a in ADD]
    before = snapshot(run_cli)
    assert "unknown basis 'rumour'" in one_error_line(run_cli(*args))
    assert snapshot(run_cli) == before


def test_a_removed_observation_cannot_be_corrected_and_is_a_tombstone(
    run_cli: Run, tmp_path: Path
) -> None:
    old = es_id(run_cli, "2025-06-16")
    assert ok(run_cli("holdings", "remove", str(old))).startswith(f"removed observation {old} ")
    before = snapshot(run_cli)
    assert "no such observation" in one_error_line(run_cli(*ADD, "--supersedes", str(old)))
    again = ["holdings", "add", "el-salvador", "--btc", "6209", "--bound", "approximate",
             "--as-of", "2025-06-16", "--basis", "official", "--source", ES_0616]  # fmt: skip
    assert f"(id {old}, removed)" in one_error_line(run_cli(*again))
    exported = _write(
        tmp_path / "old.csv",
        f'el-salvador,2025-06-16,6209,approximate,official,government,"{ES_0616}",,,,',
    )
    line = one_error_line(run_cli("holdings", "import", str(exported)))
    assert "line 2, column source:" in line and f"(id {old}, removed)" in line
    assert snapshot(run_cli) == before
    ok(run_cli("holdings", "sync"))
    assert old not in [o["id"] for o in observations(run_cli)]  # not brought back
    added = ok(run_cli(*ADD))
    assert int(added.split()[2].rstrip(":")) > SHIPPED_OBSERVATIONS  # its id is not reused


# --- import and export ----------------------------------------------------------------------


def _write(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_export_then_import_into_a_fresh_database_gives_the_same_observations(
    run_cli: Run, db_url: str, tmp_path: Path
) -> None:
    """A user's holder: every field survives the round trip (the shipped ledger is already in
    every database, so it would only ever be 'already present')."""
    ok(run_cli("holders", "add", "atlantis", "--name", "Atlantis", db=db_url))
    for args in (
        ["--btc", "1,234.5", "--bound", "approximate", "--as-of", "2024-01-02", "--basis",
         "estimate", "--source", 'Arkham, "Atlantis", 2024-01-02', "--url",
         "https://example.org/a?b=1&c=2", "--published", "2024-01-03", "--cost-basis-usd",
         "1000000.5", "--note", "line one\nline two, with a comma", "--scope", "subset"],
        ["--as-of", "2024-06-01", "--basis", "undisclosed", "--source", "Decree 1",
         "--scope", "reserve"],
        ["--btc", "0.00000001", "--bound", "at_least", "--as-of", "2025-01-01", "--basis",
         "official", "--source", "Treasury"],
    ):  # fmt: skip
        ok(run_cli("holdings", "add", "atlantis", *args))
    out = tmp_path / "atlantis.csv"
    done = run_cli("holdings", "export", "--holder", "atlantis", "--output", str(out))
    assert done.exit_code == 0 and "wrote 3 observation(s)" in done.stderr
    assert out.read_text() == ok(run_cli("holdings", "export", "--holder", "atlantis"))
    before = [_identity(o) for o in observations(run_cli, "atlantis")]
    assert ok(run_cli("holdings", "import", str(out))) == "0 added, 3 already present\n"

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}" if db_url.startswith("sqlite") else None
    if fresh is None:  # the same PostgreSQL database, the holder removed and brought back
        ok(run_cli("holders", "remove", "atlantis", "--with-observations"))
        other = out.with_name("renamed.csv")
        other.write_text(out.read_text().replace("atlantis,", "lemuria,"))
        ok(run_cli("holders", "add", "lemuria", "--name", "Lemuria"))
        assert ok(run_cli("holdings", "import", str(other))) == "3 added, 0 already present\n"
        after = [_identity(o) for o in observations(run_cli, "lemuria")]
    else:
        ok(run_cli("holders", "add", "atlantis", "--name", "Atlantis", db=fresh))
        assert ok(run_cli("holdings", "import", str(out))) == "3 added, 0 already present\n"
        assert ok(run_cli("holdings", "import", str(out))) == "0 added, 3 already present\n"
        after = [_identity(o) for o in observations(run_cli, "atlantis")]
    assert after == before and len(after) == 3


def _identity(o: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in o.items() if k not in ("id", "holder", "origin")}


def test_the_shipped_ledger_exported_imports_as_already_present(
    run_cli: Run, db_url: str, tmp_path: Path
) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    out = tmp_path / "all.csv"
    ok(run_cli("holdings", "export", "-o", str(out)))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == SHIPPED_OBSERVATIONS and tuple(rows[0]) == OBSERVATION_COLUMNS
    assert ok(run_cli("holdings", "import", str(out))) == f"0 added, {SHIPPED_OBSERVATIONS} already present\n"  # fmt: skip
    # the shipped file itself, too
    shipped = tmp_path / "observations.csv"
    shipped.write_text(shipped_text("observations.csv"), encoding="utf-8")
    assert ok(run_cli("holdings", "import", str(shipped))).startswith("0 added, 45 already")


GOOD = "el-salvador,2025-10-01,7000,exact,official,government,A new row,,,,"


@pytest.mark.parametrize(
    ("row", "column", "needle"),
    [
        ("el-salvador,2025-10-02,1,exact,official,galaxy,s,,,,", "scope", "unknown scope"),
        ("el-salvador,2025-10-02,1,exact,rumour,government,s,,,,", "basis", "unknown basis"),
        ("el-salvador,2025-10-02,1,maybe,official,government,s,,,,", "bound", "unknown bound"),
        ("el-salvador,2025-10-02,1,exact,official,government,s,ftp://x/y,,,", "url", "http(s)"),
        (
            "el-salvador,2025-10-02,1,exact,official,government,s,,2025-10-01,,",
            "published",
            "before the as-of date",
        ),
        (
            "el-salvador,2025-10-02,1.123456789,exact,official,government,s,,,,",
            "btc",
            "more than 8 decimals",
        ),
        ("el-salvador,2025-13-02,1,exact,official,government,s,,,,", "as_of", "not a date"),
        (
            "atlantis,2025-10-02,1,exact,official,government,s,,,,",
            "holder",
            "`tracker holders add atlantis",
        ),
        (
            f'el-salvador,2025-06-16,6210,approximate,official,government,"{ES_0616}",,,,',
            "btc",
            "differs from stored observation ES",
        ),
        (GOOD, "source", "the same holder, as_of and source as line 2"),
    ],
)
def test_an_import_with_a_bad_row_stores_nothing(
    run_cli: Run, db_url: str, tmp_path: Path, row: str, column: str, needle: str
) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    before = snapshot(run_cli)
    path = _write(tmp_path / "in.csv", GOOD, row)
    needle = needle.replace(" ES", f" {es_id(run_cli, '2025-06-16')} ")
    line = one_error_line(run_cli("holdings", "import", str(path)))
    assert line.startswith(f"tracker: error: {path}, line 3, column {column}: "), line
    assert needle in line
    assert snapshot(run_cli) == before  # the good row on line 2 was not stored either
    assert len(observations(run_cli)) == SHIPPED_OBSERVATIONS


@pytest.mark.parametrize(
    ("target", "needle"),
    [("99999", "no such observation"), ("US", "that observation is another holder's")],
)
def test_an_imported_correction_must_point_at_the_same_holder(
    run_cli: Run, db_url: str, tmp_path: Path, target: str, needle: str
) -> None:
    ok(run_cli("db", "upgrade", db=db_url))
    target = us_id(run_cli) if target == "US" else target
    before = snapshot(run_cli)
    path = _write(tmp_path / "c.csv", GOOD + ",", f"{GOOD.replace('A new', 'Another')},{target}",
                  header=HEADER + ",supersedes")  # fmt: skip
    line = one_error_line(run_cli("holdings", "import", str(path)))
    assert f"line 3, column supersedes: {needle}" in line
    assert snapshot(run_cli) == before


def test_an_imported_correction_is_stored_with_its_link(run_cli: Run, tmp_path: Path) -> None:
    old = es_id(run_cli, "2025-06-16")
    row = f"el-salvador,2025-06-16,6210,exact,official,government,Corrected,,,,,{old}"
    path = _write(tmp_path / "c.csv", row, header=HEADER + ",supersedes")
    assert ok(run_cli("holdings", "import", str(path))) == "1 added, 0 already present\n"
    rows = {o["id"]: o for o in observations(run_cli, "el-salvador")}
    assert rows[old]["corrected_by"] is not None
    assert ok(run_cli("holdings", "import", str(path))) == "0 added, 1 already present\n"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("holder,as_of\nel-salvador,2025-01-01\n", "line 1: the header lacks the column 'btc'"),
        (HEADER + ",colour\n", "line 1: the header has an unknown column 'colour'"),
        (HEADER + "\n" + GOOD + ",extra\n", "line 2: more fields than the header has"),
    ],
)
def test_a_malformed_import_file_is_named(
    run_cli: Run, tmp_path: Path, text: str, needle: str
) -> None:
    before = snapshot(run_cli)
    path = tmp_path / "m.csv"
    path.write_text(text)
    assert needle in one_error_line(run_cli("holdings", "import", str(path)))
    assert snapshot(run_cli) == before


def test_import_of_a_missing_or_binary_file_is_one_line(run_cli: Run, tmp_path: Path) -> None:
    assert "cannot read" in one_error_line(run_cli("holdings", "import", str(tmp_path / "no")))
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8" in one_error_line(run_cli("holdings", "import", str(tmp_path / "b.csv")))


def test_export_writes_whole_or_not_at_all(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    ok(run_cli("db", "upgrade"))
    out = tmp_path / "out.csv"
    out.write_text("the old file\n")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    line = one_error_line(run_cli("holdings", "export", "--output", str(out)))
    assert line == f"tracker: error: cannot write {out}: No space left on device"
    assert out.read_text() == "the old file\n"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []
    monkeypatch.undo()
    assert "cannot write" in one_error_line(
        run_cli("holdings", "export", "-o", str(tmp_path / "no" / "such" / "dir.csv"))
    )
    assert "unknown holder 'oz'" in one_error_line(run_cli("holdings", "export", "--holder", "oz"))


def test_shipped_observations_round_trip_into_a_database_of_only_those_holders(
    run_cli: Run, db_url: str, tmp_path: Path
) -> None:
    """Export three shipped holders, import them into a database without the shipped ledger
    (`[ledger] shipped = false`) that has only those holders: the same observations."""
    chosen = ("united-states", "el-salvador", "germany")
    picks = [a for slug in chosen for a in ("--holder", slug)]
    out = tmp_path / "three.csv"
    ok(run_cli("holdings", "export", *picks, "-o", str(out)))
    before = [_identity(o) for o in observations(run_cli, *picks)]
    assert len(before) == 9 + 14 + 3

    cfg = tmp_path / "own.toml"
    cfg.write_text("[ledger]\nshipped = false\n")
    ok(run_cli("--config", str(cfg), "db", "upgrade", db=db_url))
    empty = json.loads(ok(run_cli("--config", str(cfg), "holders", "list", "-f", "json")))
    assert empty == {"holders": []}
    for slug in chosen:
        ok(run_cli("--config", str(cfg), "holders", "add", slug, "--name", slug.title()))
    done = ok(run_cli("--config", str(cfg), "holdings", "import", str(out)))
    assert done == f"{len(before)} added, 0 already present\n"
    listed = json.loads(ok(run_cli("--config", str(cfg), "holdings", "list", "-f", "json")))
    after = [_identity(o) for h in listed["holders"] for o in h["observations"]]
    assert after == before
    assert {o["origin"] for h in listed["holders"] for o in h["observations"]} == {"user"}
    again = ok(run_cli("--config", str(cfg), "holdings", "import", str(out)))
    assert again == f"0 added, {len(before)} already present\n"


def test_holdings_list_removed_shows_the_tombstones_marked(run_cli: Run, db_url: str) -> None:
    """A removed correction is listed with --removed, marked, and no longer marks what it
    corrected; without --removed neither it nor a `removed` field appears."""
    ok(run_cli("db", "upgrade", db=db_url))
    old = es_id(run_cli, "2025-06-16")
    fix = ["holdings", "add", "el-salvador", "--btc", "6210", "--as-of", "2025-06-16", "--basis",
           "official", "--source", "fix", "--supersedes", str(old)]  # fmt: skip
    added = ok(run_cli(*fix))
    new = int(added.split()[2].rstrip(":"))
    assert {o["id"]: o for o in observations(run_cli, "el-salvador")}[old]["corrected_by"] == new
    ok(run_cli("holdings", "remove", str(new)))
    plain = observations(run_cli, "el-salvador")
    assert new not in [o["id"] for o in plain] and "removed" not in plain[0]
    marked = {o["id"]: o for o in observations(run_cli, "el-salvador", "--removed")}
    assert marked[new]["removed"] is True and marked[old]["removed"] is False
    assert marked[old]["corrected_by"] is None  # the removed correction corrects nothing
    rows = list(
        csv.DictReader(
            io.StringIO(ok(run_cli("holdings", "list", "el-salvador", "--removed", "-f", "csv")))
        )
    )
    assert {r["id"]: r["removed"] for r in rows}[str(new)] == "true"
    table = ok(run_cli("holdings", "list", "el-salvador", "--removed"))
    assert "REMOVED: not used" in table and "CORRECTED" not in table


def test_an_export_file_gets_the_usual_permissions(run_cli: Run, tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        new = tmp_path / "new.csv"
        ok(run_cli("holdings", "export", "--holder", "finland", "-o", str(new)))
        assert new.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.csv"
        kept.write_text("old\n")
        kept.chmod(0o600)
        ok(run_cli("holdings", "export", "--holder", "finland", "-o", str(kept)))
        assert kept.stat().st_mode & 0o777 == 0o600 and kept.read_text().startswith("holder,")
    finally:
        os.umask(umask)
