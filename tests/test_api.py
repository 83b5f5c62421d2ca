"""The Python API: the README's example runs, and the API and the CLI write the same run folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, SAMPLE_MODEL, SAMPLE_VIDEO, write_scene_video

import vidal
from vidal.errors import ConfigError, InputError

# What differs between two runs of the same input: when they ran and how long they took.
RUN_SPECIFIC = ("run_id", "started", "timings")


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md has no <!-- api-example --> block"
    return match.group(1)


@pytest.mark.slow
@pytest.mark.fiftyone
def test_the_readme_example_runs_as_written(fo, tmp_path: Path) -> None:
    (tmp_path / "sample_videos").symlink_to(REPO / "sample_videos")
    done = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == 0, done.stderr[-3000:]
    run = vidal.load_run(tmp_path / "vidal-runs" / "crossing")
    assert f"{run.path.relative_to(tmp_path)} 5 frames selected" in done.stdout
    assert len(run.selected) == 5 and run.summary.frames["last"] == 100
    timings = run.summary.timings
    assert set(timings["stages"]) == {"detect", "track", "score", "select", "write"}
    assert 0 < timings["first_frame_seconds"] < timings["processing_seconds"]
    assert set(timings["stages_cpu"]) == set(timings["stages"]) and timings["stages_cpu"]["score"] > 0
    assert timings["processing_cpu_seconds"] >= timings["stages_cpu"]["score"]
    after_first = 99 / (timings["processing_seconds"] - timings["first_frame_seconds"])  # 100 frames processed
    assert abs(timings["steady_frames_per_second"] - after_first) < 0.1
    assert "5 new samples" in done.stdout and len(fo.load_dataset("street")) == 5
    fo.delete_dataset("street")


def summary_without_run_specifics(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {key: value for key, value in summary.items() if key not in RUN_SPECIFIC}


@pytest.mark.slow
def test_the_api_and_the_cli_write_the_same_run_folder(tmp_path: Path) -> None:
    # Both in a fresh process, as a user runs them (PyTorch's threads are set up at import).
    script = (f"import vidal; vidal.mine({str(SAMPLE_VIDEO)!r}, out={str(tmp_path / 'api')!r}, push=False, "
              f"model={str(SAMPLE_MODEL)!r}, budget=6, start=20, end=70, strategy='vidal')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    api_run = vidal.load_run(tmp_path / "api" / "crossing")
    done = subprocess.run(
        [sys.executable, "-m", "vidal.cli", "mine", str(SAMPLE_VIDEO), "--no-push", "--out", str(tmp_path / "cli"),
         "--model", str(SAMPLE_MODEL), "--budget", "6", "--start", "20", "--end", "70", "--strategy", "vidal"],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr
    cli_dir = tmp_path / "cli" / "crossing"
    files = sorted(p.relative_to(api_run.path) for p in api_run.path.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(cli_dir) for p in cli_dir.rglob("*") if p.is_file())
    assert len([f for f in files if f.parts[0] == "frames"]) == 6
    for relative in files:
        if relative.name == "summary.json":
            api_summary, cli_summary = summary_without_run_specifics(api_run.path), summary_without_run_specifics(cli_dir)
            api_summary["config"]["output"].pop("out"), cli_summary["config"]["output"].pop("out")
            assert api_summary == cli_summary
        elif relative.name == "config.yaml":
            api_config, cli_config = (yaml.safe_load((d / relative).read_text()) for d in (api_run.path, cli_dir))
            assert api_config["output"].pop("out") != cli_config["output"].pop("out")
            assert api_config == cli_config
        else:
            assert (api_run.path / relative).read_bytes() == (cli_dir / relative).read_bytes(), relative
    assert api_run.summary.counts["selected"] == 6 and [f.rank for f in api_run.selected] == [1, 2, 3, 4, 5, 6]


def test_bad_input_and_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        vidal.mine(tmp_path / "missing.mp4", model=str(SAMPLE_MODEL), push=False)
    with pytest.raises(ConfigError, match="budget"):
        vidal.mine(write_scene_video(tmp_path / "a.mp4"), model=str(SAMPLE_MODEL), budget="many", push=False)
    with pytest.raises(TypeError, match="unknown option"):
        vidal.mine(SAMPLE_VIDEO, modle=str(SAMPLE_MODEL))
    folder = tmp_path / "videos"
    folder.mkdir()
    write_scene_video(folder / "a.mp4"), write_scene_video(folder / "b.mp4")
    with pytest.raises(InputError, match="mine_all"):
        vidal.mine(folder, model=str(SAMPLE_MODEL), push=False)
