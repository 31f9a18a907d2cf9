"""The one-way data flow of DESIGN.md, checked on the import statements."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
PURE = ("consensus", "valuation", "sources", "report")
FORBIDDEN_FOR_PURE = ("store", "pipeline", "cli", "scheduler", "db", "reporting", "holdings")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("tracker")}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layering(path: Path) -> None:
    rel = path.relative_to(PACKAGE)
    top = rel.parts[0].removesuffix(".py")
    found = imports_of(path)
    if top != "cli" and top != "__main__":
        assert not any(m == "tracker.cli" or m.startswith("tracker.cli.") for m in found)
    if top in PURE:
        bad = {
            m
            for m in found
            for f in FORBIDDEN_FOR_PURE
            if m == f"tracker.{f}" or m.startswith(f"tracker.{f}.")
        }
        assert not bad, f"{rel} imports {bad}"


def test_pure_modules_do_no_io() -> None:
    for name in ("consensus.py", "valuation.py"):
        text = (PACKAGE / name).read_text()
        for needle in ("import httpx", "import sqlalchemy", "sqlmodel import Session", "open("):
            assert needle not in text, f"{name}: {needle}"


def test_no_objects_built_at_import_time() -> None:
    for path in modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = ast.unparse(node.value.func)
                assert not any(
                    bad in func for bad in ("create_engine", "Settings", "AsyncClient", "Scheduler")
                ), f"{path.name}: {ast.unparse(node)}"


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_network_guard_is_on() -> None:
    import socket

    with pytest.raises(Exception, match=r"(?i)socket|host"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.5)
