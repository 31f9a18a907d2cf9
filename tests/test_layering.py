"""The one-way data flow of DESIGN.md and the layout of STYLE.md, checked on the imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
ENTRY_POINTS = ("cli", "service", "web")  # built last: nothing else may import them
# Pure: no I/O, no session, no client.
PURE = (
    "consensus",
    "valuation",
    "headline",
    "bounds",
    "money",
    "clock",
    "inputs",
    "errors",
    "copy_results",
)
IO_MODULES = ("store", "rounds", "report", "holdings", "daily", "sources.http")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _under(name: str, package: str) -> bool:
    return name == f"tracker.{package}" or name.startswith(f"tracker.{package}.")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layering(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    top = rel.parts[0].removesuffix(".py")
    found = imports_of(path)
    for entry in ENTRY_POINTS:
        if top not in (entry, "cli", "__main__"):  # the CLI starts the service and the web view
            assert not any(_under(m, entry) for m in found), f"{rel} imports the {entry} edge"
    if top in PURE:
        bad = {m for m in found if any(_under(m, io) for io in IO_MODULES)}
        bad |= {m for m in found if m.split(".")[0] in ("httpx", "sqlmodel", "apscheduler")}
        assert not bad, f"{rel} is pure but imports {bad}"
    if top == "render":
        bad = {m for m in found if _under(m, "store") or m.split(".")[0] in ("sqlalchemy", "httpx")}
        assert not bad, f"{rel} renders, yet imports {bad}"
    if top == "sources":
        assert not any(_under(m, "store") for m in found), f"{rel} imports the store"


def test_driver_errors_are_translated_in_one_place() -> None:
    """Only store/engine.py names the drivers' exceptions; the CLI sniffs no sys.modules."""
    allowed = {PACKAGE / "store" / "engine.py"}
    for path in modules():
        if path not in allowed:
            text = path.read_text()
            assert "DBAPIError" not in text and "OperationalError" not in text, path
            assert "sys.modules" not in text, path


def test_pure_modules_do_no_io() -> None:
    for name in ("consensus.py", "valuation.py", "money.py", "clock.py", "inputs.py"):
        text = (PACKAGE / name).read_text()
        for needle in ("import httpx", "import sqlalchemy", "sqlmodel import Session", "open("):
            assert needle not in text, f"{name}: {needle}"


def test_no_module_is_much_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not long, f"split these: {long}"


def test_no_objects_built_at_import_time() -> None:
    for path in modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = ast.unparse(node.value.func)
                assert not any(
                    bad in func for bad in ("create_engine", "Settings", "AsyncClient", "Scheduler")
                ), f"{path.name}: {ast.unparse(node)}"
