"""Many inputs at once: ``vidal mine --workers N`` and ``--ray``, the skip of inputs already
mined and ``--force``, against a serial run of the same inputs (byte for byte)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from vidal.cli import app

from conftest import REPO, SAMPLE_MODEL, write_scene_video

CLIP = REPO / "sample_videos" / "crossing.mp4"
runner = CliRunner()
# Files of a run folder that name the run's time or place (summary.json: timings and run id;
# config.yaml: output.out) and so differ between two runs of the same input.
VARYING = {"summary.json", "config.yaml"}


def write_clips(folder: Path, count: int = 3, frames: int = 16, name: str = "clip") -> Path:
    """``count`` clips of ``frames`` frames of the sample clip in ``folder``, ``{name}{index}.mp4``."""
    folder.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(str(CLIP))
    for index in range(count):
        writer = None
        for _ in range(frames):
            ok, image = capture.read()
            assert ok
            if writer is None:
                size = (image.shape[1], image.shape[0])
                writer = cv2.VideoWriter(str(folder / f"{name}{index}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, size)
            writer.write(image)
        writer.release()
    capture.release()
    return folder


def mine(*args: str):
    return runner.invoke(app, ["mine", "--no-push", "--model", str(SAMPLE_MODEL), "--imgsz", "320", "--budget", "3", *args])


def run_files(out: Path) -> dict[str, bytes]:
    """Every file of every run folder in ``out`` by its relative path, but :data:`VARYING`."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name not in VARYING}


def stdout_lines(output: str) -> list[str]:
    """The result lines, with the measured frame rate and the folder of run folders masked."""
    return [re.sub(r"at [0-9.]+ fps", "at _ fps", re.sub(r"-> .*/", "-> OUT/", line))
            for line in output.splitlines() if ": " in line and "->" in line]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clips(tmp_path_factory.mktemp("clips") / "videos")


def mine_serial(out: Path, *inputs: Path) -> list[str]:
    """Mine ``inputs`` one at a time in a process of one thread, as each worker is (PyTorch's
    float sums differ in their last digits with the thread count); return the result lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", "from vidal.cli import app; app()", "mine", "--no-push", "--model",
               str(SAMPLE_MODEL), "--imgsz", "320", "--budget", "3", *map(str, inputs), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return stdout_lines(done.stdout)


@pytest.fixture(scope="module")
def serial(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("serial") / "runs"
    return out, mine_serial(out, clips)


# A video of 4 s, cut into chunks of 1.6 s (40, 40 and 20 frames) by --set scale.chunk_s=1.6.
CHUNKS = "scale.chunk_s=1.6"


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clips(tmp_path_factory.mktemp("long"), count=1, frames=100, name="long") / "long0.mp4"


@pytest.fixture(scope="module")
def serial_with_long(clips: Path, long_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("serial-long") / "runs"
    return out, mine_serial(out, clips, long_clip)


def test_workers_give_the_serial_run_folders(clips: Path, serial: tuple[Path, list[str]], tmp_path: Path) -> None:
    out = tmp_path / "runs"
    result = mine(str(clips), "--out", str(out), "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "in 2 processes" in result.output
    expected_out, expected_lines = serial
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip2"]
    files = run_files(out)
    assert any(name.endswith("tracks.txt") and data for name, data in files.items())  # walkers were tracked
    assert files == run_files(expected_out)
    assert stdout_lines(result.output) == expected_lines and len(expected_lines) == 3


def test_workers_detect_a_long_video_in_chunks_and_give_the_serial_run_folder(
    clips: Path, long_clip: Path, serial_with_long: tuple[Path, list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    result = mine(str(clips), str(long_clip), "--out", str(out), "--workers", "2", "--set", CHUNKS)
    assert result.exit_code == 0, result.output
    expected_out, expected_lines = serial_with_long
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip2", "long0"]  # no chunk folder left
    assert run_files(out) == run_files(expected_out)
    assert stdout_lines(result.output) == expected_lines
    chunks = json.loads((out / "long0" / "summary.json").read_text())["timings"]["chunks"]
    assert chunks["chunks"] == 3 and chunks["detected_again"] == 0 and chunks["chunk_seconds"] > 0
    assert "chunks" not in json.loads((out / "clip0" / "summary.json").read_text())["timings"]


def test_the_api_mines_in_workers_and_skips_what_it_mined(clips: Path, serial: tuple[Path, list[str]],
                                                         tmp_path: Path) -> None:
    import vidal

    out = tmp_path / "runs"
    options = dict(out=out, push=False, model=SAMPLE_MODEL, imgsz=320, budget=3)
    runs = vidal.mine_all([clips], workers=2, **options)
    assert [run.path.name for run in runs] == ["clip0", "clip1", "clip2"]
    assert run_files(out) == run_files(serial[0])
    again = vidal.mine_all([clips / "clip1.mp4"], **options)  # in this process: mined already, not again
    assert [run.path for run in again] == [runs[1].path] and len(again[0].selected) == 3
    forced = vidal.mine(clips / "clip1.mp4", force=True, **options)
    assert forced.path.name == "clip1-2"
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip1-2", "clip2"]


def test_a_worker_that_does_not_see_the_output_folder_refuses_in_one_line(clips: Path, tmp_path: Path) -> None:
    # On a cluster whose nodes do not share --out, a worker would write run folders the parent never sees.
    from vidal.config import load_config
    from vidal.scale import MineTask, portable, run_task

    config = load_config(None, [f"detector.model={SAMPLE_MODEL}", f"output.out={tmp_path / 'runs'}"])
    result = run_task(portable(MineTask(config, clips / "clip0.mp4", shared=".vidal-parent-0123")))
    assert result.exit_code == 2 and "not the one vidal mine was started with" in result.error
    assert "storage every node mounts" in result.error and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_input_mined_already_is_skipped_unless_force(clips: Path, tmp_path: Path, workers: str) -> None:
    out = tmp_path / "runs"
    shutil.copytree(clips, tmp_path / "some")
    (tmp_path / "some" / "clip2.mp4").unlink()
    first = mine(str(tmp_path / "some"), "--out", str(out), "--workers", workers)
    assert first.exit_code == 0, first.output
    again = mine(str(clips), "--out", str(out), "--workers", workers)
    assert again.exit_code == 0, again.output
    skipped = [line for line in again.output.splitlines() if "skipped" in line]
    assert [line.split(":")[0] for line in skipped] == ["clip0", "clip1"], again.output
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip2"]
    other = mine(str(clips / "clip0.mp4"), "--out", str(out), "--set", "tracker.match_thresh=0.7")
    assert other.exit_code == 0 and "skipped" not in other.output, other.output  # another config: mined
    forced = mine(str(clips / "clip1.mp4"), "--out", str(out), "--force")
    assert forced.exit_code == 0 and "skipped" not in forced.output, forced.output
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip0-2", "clip1", "clip1-2", "clip2"]



def test_an_input_stopping_early_in_a_worker_says_what_it_says_serially(clips: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    shutil.copytree(clips, inputs)
    (inputs / "clip2.mp4").unlink()
    broken = write_scene_video(inputs / "broken.avi", fourcc="MJPG")
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    said = {}
    for workers in ("1", "2"):
        out = tmp_path / f"runs{workers}"
        result = mine(str(inputs), "--out", str(out), "--workers", workers)
        assert result.exit_code == 3, result.output
        text = " ".join(result.output.split()).replace(str(out), "OUT")
        assert text.count("the file is truncated or corrupt") == 1, result.output
        assert text.count("error:") == 1 and "error: 1 of 3 inputs stopped early (broken)" in text
        assert sorted(p.name for p in out.iterdir()) == ["broken", "clip0", "clip1"]  # the others kept
        said[workers] = re.search(r"warning: (.*?OUT/broken)", text).group(1)
    assert said["1"] == said["2"]



def test_ray_missing_is_one_line_saying_what_to_install(clips: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed: importing it fails
    out = tmp_path / "runs"
    result = mine(str(clips / "clip0.mp4"), "--out", str(out), "--ray", "auto")
    assert result.exit_code == 2, result.output
    assert "error: --ray needs Ray: install vidal[ray]" in " ".join(result.output.split())
    assert not out.exists() or not list(out.iterdir())


def test_workers_and_ray_together_are_refused(clips: Path, tmp_path: Path) -> None:
    result = mine(str(clips / "clip0.mp4"), "--out", str(tmp_path / "runs"), "--workers", "2", "--ray", "auto")
    assert result.exit_code == 2 and "--workers runs processes on this machine, --ray on a Ray cluster" in result.output



def test_workers_push_each_run_once_from_the_parent(fo, dataset_name: str, clips: Path, tmp_path: Path) -> None:
    out, media = tmp_path / "runs", tmp_path / "media"
    args = ["mine", "--model", str(SAMPLE_MODEL), "--imgsz", "320", "--budget", "3", str(clips), "--out", str(out),
            "--dataset", dataset_name, "--media-dir", str(media), "--workers", "2"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output.count(f"pushed to dataset {dataset_name!r}: 3 new") == 3, first.output
    assert len(fo.load_dataset(dataset_name)) == 9
    again = runner.invoke(app, args)  # all skipped, pushed again: nothing added twice
    assert again.exit_code == 0, again.output
    assert again.output.count("skipped") == 3 and again.output.count(": 0 new") == 3, again.output
    assert len(fo.load_dataset(dataset_name)) == 9


# Ray turns 127.0.0.1 into the machine's reachable address (and listens on every interface)
# unless told the cluster is on one machine; `ray start` refuses a second node when told so,
# hence the second node started through Ray's own command with that one resolution kept.
# Ray turns on token authentication for a one-machine cluster where it finds (or makes) a
# token in ~/.ray; the nodes of this cluster, all on 127.0.0.1, go without, whatever is there.
ONE_MACHINE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
SECOND_NODE = """
import sys
import ray._private.services as services
services.resolve_ip_for_localhost = lambda host: host
from ray.scripts.scripts import main
sys.argv = ["ray", "start", "--address", sys.argv[1], "--node-ip-address=127.0.0.1", "--num-cpus=1",
            "--disable-usage-stats"]
main()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_cluster() -> str:
    """A head and a second node of one CPU each, both on 127.0.0.1 only; its address."""
    pytest.importorskip("ray")
    ray = str(Path(sys.executable).parent / "ray")
    port, temp = free_port(), tempfile.mkdtemp(prefix="vr-", dir="/tmp")
    address = f"127.0.0.1:{port}"
    env = {**os.environ, **ONE_MACHINE}
    try:
        subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
                        "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
                       env=env, check=True, capture_output=True, timeout=180)
        subprocess.run([sys.executable, "-c", SECOND_NODE, address], env={**os.environ, "RAY_AUTH_MODE": "disabled"},
                       check=True,
                       capture_output=True, timeout=180)
        yield address
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)
        shutil.rmtree(temp, ignore_errors=True)


def listening_beyond_loopback() -> list[str]:
    """Listening TCP sockets of Ray's processes on an address other than 127.0.0.1."""
    import psutil

    found = []
    for connection in psutil.net_connections("tcp"):
        if connection.status != psutil.CONN_LISTEN or connection.pid is None:
            continue
        try:
            name = psutil.Process(connection.pid).name()
        except psutil.Error:
            continue
        if ("ray" in name or "gcs" in name) and connection.laddr.ip not in ("127.0.0.1", "::ffff:127.0.0.1"):
            found.append(f"{name} {connection.laddr.ip}:{connection.laddr.port}")
    return found


def kill_a_worker(mining: subprocess.Popen, out: Path) -> int:
    """Kill the first worker seen mining an input or detecting a chunk (a task's staging folder,
    or chunk file, is named after its process); its pid."""
    deadline = time.monotonic() + 300
    while mining.poll() is None and time.monotonic() < deadline:
        working = [*out.glob(".*.partial-*"), *out.glob(".*.chunks-*/*.partial-*")] if out.is_dir() else []
        for staging in working:
            pid = int(staging.name.rsplit(".partial-", 1)[1].split("-")[0])
            if pid == mining.pid:  # the parent, mining a chunked video from its chunks' detections
                continue
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.02)
    raise AssertionError("no worker was seen mining")


def test_a_pool_worker_killed_is_run_again_and_every_input_mined_once(
    clips: Path, serial: tuple[Path, list[str]], tmp_path: Path
) -> None:
    # A dead worker breaks a whole process pool; the unfinished inputs run again in a new one, as Ray retries.
    out = tmp_path / "runs"
    command = [sys.executable, "-c", "from vidal.cli import app; app()", "mine", "--no-push", "--model",
               str(SAMPLE_MODEL), "--imgsz", "320", "--budget", "3", str(clips), "--out", str(out), "--workers", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as mining:
        kill_a_worker(mining, out)
        stdout, stderr = mining.communicate(timeout=600)
    assert mining.returncode == 0, stderr
    assert "a worker process died" in " ".join(stderr.split()) and "error:" not in stderr
    assert not list(out.glob(".*"))  # no staging folder, no mark left
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip2"]
    assert run_files(out) == run_files(serial[0])
    assert stdout_lines(stdout) == serial[1]


@pytest.mark.slow
def test_ray_cluster_with_a_worker_killed_gives_the_serial_run_folders(
    clips: Path, long_clip: Path, serial_with_long: tuple[Path, list[str]], ray_cluster: str, tmp_path: Path
) -> None:
    # Several videos and a long one cut into chunks, on a cluster of two nodes; one worker is killed.
    out = tmp_path / "runs"
    command = [sys.executable, "-c", "from vidal.cli import app; app()", "mine", "--no-push", "--model",
               str(SAMPLE_MODEL), "--imgsz", "320", "--budget", "3", str(clips), str(long_clip), "--out", str(out),
               "--ray", ray_cluster, "--set", CHUNKS]
    env = {**os.environ, **ONE_MACHINE}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as mining:
        kill_a_worker(mining, out)
        assert not listening_beyond_loopback()
        stdout, stderr = mining.communicate(timeout=600)
    assert mining.returncode == 0, stderr
    # each once, no staging folder, no chunk folder, no mark left
    assert sorted(p.name for p in out.iterdir()) == ["clip0", "clip1", "clip2", "long0"]
    expected_out, expected_lines = serial_with_long
    assert run_files(out) == run_files(expected_out)  # the long video's tracks too: its MOTA and IDF1 are the serial run's
    assert stdout_lines(stdout) == expected_lines
    assert json.loads((out / "long0" / "summary.json").read_text())["timings"]["chunks"]["chunks"] == 3


def test_a_worker_loads_the_detector_its_scoring_asks_for() -> None:
    """A worker keeps its loaded detectors by configuration: a run with the committee (one more
    inference per view) gets a committee, not the plain detector an earlier run left there."""
    from vidal import scale
    from vidal.config import load_config
    from vidal.detectors.committee import Committee

    plain = [f"detector.model={SAMPLE_MODEL}"]
    first = scale._detector(load_config(overrides=plain))
    committee = scale._detector(load_config(overrides=[*plain, "scoring.signals.committee.enabled=true"]))
    assert not isinstance(first, Committee) and isinstance(committee, Committee)
    assert scale._detector(load_config(overrides=plain)) is first  # one load per configuration
