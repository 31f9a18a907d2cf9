"""deploy/: the systemd unit is one systemd reads whole, and says what the docs say."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

UNIT = ROOT / "deploy" / "tracker.service"


def unit_keys(text: str) -> dict[str, list[tuple[str, str]]]:
    """section -> [(key, value)], as systemd reads a unit file."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
        else:
            key, _, value = line.partition("=")
            sections[current].append((key.strip(), value.strip()))
    return sections


def test_the_systemd_unit_restarts_on_failure_within_limits() -> None:
    sections = unit_keys(UNIT.read_text())
    unit, service = dict(sections["Unit"]), dict(sections["Service"])
    assert service["Restart"] == "on-failure" and "TimeoutStopSec" in service
    # start limits belong to [Unit]; under [Service] systemd ignores them
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(unit)
    assert not {"StartLimitIntervalSec", "StartLimitBurst"} & set(service)
    assert unit["Documentation"].endswith("docs/operations.md")
    assert (ROOT / "docs" / "operations.md").exists()
    # installed in a virtual environment, as the header and docs/operations.md say
    assert re.fullmatch(r"/opt/tracker/venv/bin/tracker run\b.*", service["ExecStart"])
    assert "/opt/tracker/venv/bin/tracker" in (ROOT / "docs" / "operations.md").read_text()


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # an ExecStart that exists here: systemd checks the binary, which is not installed here
    text = re.sub(r"^ExecStart=\S+", f"ExecStart={sys.executable} -m tracker", UNIT.read_text(),
                  flags=re.M)  # fmt: skip
    unit = tmp_path / "tracker.service"
    unit.write_text(text)
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    said = (result.stdout + result.stderr).splitlines()
    complaints = [s for s in said if "tracker.service" in s or "Unknown" in s or "ignoring" in s]
    assert result.returncode == 0 and complaints == [], said
