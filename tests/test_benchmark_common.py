"""BENCHMARKS.md sections: a re-run replaces the figures and keeps the hand-written text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO, import_tool


@pytest.fixture
def common(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    module = import_tool("benchmark_common")
    monkeypatch.setattr(module, "BENCHMARKS_MD", tmp_path / "BENCHMARKS.md")
    return module


def sections(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, re.M)


def test_rerun_replaces_figures_and_keeps_hand_written_text(common) -> None:
    common.write_section("Speed", "| a | 1 |")
    common.write_section("Quality", "| b | 2 |")
    path = common.BENCHMARKS_MD
    text = path.read_text()
    path.write_text(text.replace("| a | 1 |\n", f"| a | 1 |\n\n{common.HAND_WRITTEN}\n\n**Reading.** One is fast.\n\n### Earlier\n\nold\n"))
    old_date = re.search(r"Measured (\S+)", path.read_text()).group(1)

    common.write_section("Speed", "| a | 3 |")
    text = path.read_text()
    assert sections(text) == ["Speed", "Quality"]
    speed = text[text.index("## Speed"): text.index("## Quality")]
    assert "| a | 3 |" in speed and "| a | 1 |" not in speed
    assert speed.index("| a | 3 |") < speed.index(common.HAND_WRITTEN) < speed.index("**Reading.**") < speed.index("### Earlier")
    assert f"_Written for an earlier run ({old_date})" in speed
    assert "| b | 2 |" in text

    # A second re-run keeps one note, with the date the text was written for.
    common.write_section("Speed", "| a | 4 |")
    speed = path.read_text().split("## Quality")[0]
    assert speed.count("_Written for an earlier run") == 1 and f"({old_date})" in speed
    assert speed.count("**Reading.**") == 1 and "| a | 3 |" not in speed


def test_section_without_marker_is_replaced_whole(common) -> None:
    common.write_section("Speed", "| a | 1 |")
    path = common.BENCHMARKS_MD
    path.write_text(path.read_text() + "\nloose text\n")
    common.write_section("Speed", "| a | 2 |")
    text = path.read_text()
    assert "loose text" not in text and "| a | 2 |" in text and sections(text) == ["Speed"]


def test_scratch_folder_is_removed_when_the_script_exits(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = ("import sys; sys.path.insert(0, sys.argv[1]); from benchmark_common import scratch_folder; "
              "f = scratch_folder('vidal-test-'); (f / 'x.txt').write_text('x'); print(f)")
    done = subprocess.run([sys.executable, "-c", script, str(REPO / "tools")], capture_output=True, text=True,
                          env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.parent == tmp_path and not folder.exists()
