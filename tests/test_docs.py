"""Every command has help text with an example; the README and docs/commands.md document them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from tracker.cli import app

ROOT = Path(__file__).resolve().parents[1]


def all_commands() -> list[tuple[str, Any]]:
    root = typer.main.get_command(app)
    found: list[tuple[str, Any]] = []

    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):  # a group (Typer vendors its own click)
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            found.append((path, cmd))

    walk(root, "")
    return found


@pytest.mark.parametrize(
    ("name", "command"), all_commands(), ids=lambda x: x if isinstance(x, str) else "cmd"
)
def test_commands_have_help_with_an_example(name: str, command: Any) -> None:
    assert command.help and len(command.help) > 30, name
    assert "Example: tracker" in command.help, name


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```")[1::2]
    commands = [line.strip() for block in blocks for line in block.splitlines()[1:] if line.strip()]
    assert len(commands) == 2, commands
    assert "tracker report" in commands[0]
    assert "pytest" in commands[1]
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_readme_or_command_reference_mentions_every_command() -> None:
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "commands.md").read_text()
    for name, _ in all_commands():
        assert f"tracker {name}" in text, name
