"""BENCHMARKS.md sections: a re-run replaces the figures and keeps the hand-written text."""

from __future__ import annotations

import re
import subprocess
import sys
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
    end = common.END.format(name="Speed")
    text = path.read_text()
    text = text.replace("## Speed\n\n", "## Speed\n\nWhat this measures, by hand.\n\n")
    path.write_text(text.replace(end + "\n", f"{end}\n\n**Reading.** One is fast.\n\n### Earlier\n\nold\n"))
    old_date = re.search(r"Measured (\S+)", path.read_text()).group(1)

    common.write_section("Speed", "| a | 3 |")
    text = path.read_text()
    assert sections(text) == ["Speed", "Quality"]
    speed = text[text.index("## Speed"): text.index("## Quality")]
    assert "| a | 3 |" in speed and "| a | 1 |" not in speed
    assert speed.index("What this measures") < speed.index("| a | 3 |") < speed.index(end)
    assert speed.index(end) < speed.index("**Reading.**") < speed.index("### Earlier") < speed.index("old")
    assert f"_Written for an earlier run ({old_date})" in speed
    assert "| b | 2 |" in text

    # A second re-run keeps one note, with the date the text was written for.
    common.write_section("Speed", "| a | 4 |")
    speed = path.read_text().split("## Quality")[0]
    assert speed.count("_Written for an earlier run") == 1 and f"({old_date})" in speed
    assert speed.count("**Reading.**") == 1 and "| a | 3 |" not in speed
    assert speed.count("What this measures") == 1


def test_text_anywhere_outside_the_markers_is_kept(common) -> None:
    common.write_section("Speed", "| a | 1 |")
    path = common.BENCHMARKS_MD
    path.write_text(path.read_text() + "\nloose text\n\n## Notes\n\nby hand\n")
    common.write_section("Speed", "| a | 2 |")
    text = path.read_text()
    assert "loose text" in text and "| a | 2 |" in text and "| a | 1 |" not in text
    assert sections(text) == ["Speed", "Notes"] and text.endswith("by hand\n")


def test_sections_of_the_earlier_layout_lose_no_text(common) -> None:
    path = common.BENCHMARKS_MD
    path.write_text(
        "# Benchmarks\n\n## Speed\n\nMeasured 2026-01-01 on x with:\n\n| a | 1 |\n\n"
        f"{common.HAND_WRITTEN}\n\nReading.\n\n## Other\n\nMeasured 2026-01-02\n\n| c | 1 |\n\nmy own note\n"
    )
    common.write_section("Speed", "| a | 2 |")
    common.write_section("Other", "| c | 2 |")
    text = path.read_text()
    speed, other = text.split("## Other")
    # The old layout's figures (above the marker) are the script's: replaced.
    assert "| a | 2 |" in speed and "| a | 1 |" not in speed and "Reading." in speed
    assert "(2026-01-01)" in speed and common.HAND_WRITTEN not in text
    # Without a marker, no line can be told to be the script's: all of it is kept below the new figures.
    assert other.index("| c | 2 |") < other.index("(2026-01-02)") < other.index("| c | 1 |") < other.index("my own note")


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


def test_a_failed_measured_command_shows_its_output(common, capsys) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        common.measure([sys.executable, "-c", "import sys; print('made it this far'); sys.exit('the reason it failed')"])
    err = capsys.readouterr().err
    assert "made it this far" in err and "the reason it failed" in err
