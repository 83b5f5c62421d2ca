"""Mining many videos at once: serial against ``--workers 2`` and ``--ray local``, the push rate
to one MongoDB with 1, 2 and 4 concurrent pushers, and a projection to 1,000 hours of 1080p.

Inputs: four real clips of 640x480-ish video (TUD-Stadtmitte, TUD-Campus, the parking lot and
the sample crossing clip; 927 frames), mined with the shared COCO YOLO11n int8 OpenVINO model
(``--classes person,car --budget 5% --no-push``), each way in a fresh ``vidal mine`` process
and a fresh output folder, one after the other in one run: serial (the detector's threads on
every core), ``--workers 2`` (one thread per process), ``--ray local`` (a Ray cluster started
in the process, one CPU per task; its start-up counted). The selections of the three are
compared frame for frame.

Push rate: the four clips mined at a budget of 30% (--no-push), then N processes (1, 2, 4)
each push all four run folders into a dataset of their own, on one ``mongod`` (FiftyOne's own
binary, on 127.0.0.1, started by this script): the frames pushed by all of them over the time
from their common start to the last one's end (after ``import fiftyone``, which each paid
before a shared start time).

Projection: the 1080p cost per frame is measured here too (SNMOT-116's first 250 frames, a
serial run), and hours per 1,000 hours of 25 fps 1080p video on N nodes like this one are
frames / (node rate x N x the measured parallel efficiency of Ray), with the pushes of the
selected 5% done by the ``vidal mine`` process at the one-pusher rate, overlapping the mining.

With ``--chunks``, only one long video: SNMOT-116 (750 frames of 1080p) mined serially and with
``--workers 2`` cut into chunks of 10 s (3 chunks: vidal.chunks), side by side; the two run
folders' selections and tracks are compared, and the final pass's share of the time is read
from the chunked run's ``summary.json``.

    python tools/bench_scale.py            # writes its section of BENCHMARKS.md
    python tools/bench_scale.py --chunks   # writes the long-video section
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from benchmark_common import REPO, SHARED, SHARED_MODEL, measure, offline_ultralytics, scratch_folder, write_section

import vidal
from vidal.dataset.database import fiftyone_file
from vidal.video import open_source

INPUTS = [
    SHARED / "data" / "mot" / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4",
    SHARED / "data" / "mot" / "TUD-Campus" / "TUD-Campus.mp4",
    SHARED / "data" / "videos" / "intel_car-detection.mp4",
    REPO / "sample_videos" / "crossing.mp4",
]
SOCCER = SHARED / "data" / "mot" / "SNMOT-116" / "SNMOT-116.mp4"
SOCCER_FRAMES = 250
PUSHERS = (1, 2, 4)
HOURS, FPS, SHARE = 1000, 25, 0.05
NODES = (1, 10, 100)

PUSH = r"""
import sys, time
import vidal
start, dataset, media, runs = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
import fiftyone  # paid before the common start
time.sleep(max(0.0, start - time.time()))
frames = sum(vidal.push(run, dataset=dataset, media_dir=media).added for run in runs)
print(frames, time.time())
"""


def selections(out: Path) -> dict[str, list[int]]:
    """Each run folder's selected frames."""
    return {run.name: sorted(f.frame for f in vidal.load_run(run).selected)
            for run in sorted(p for p in out.iterdir() if p.is_dir())}


def mine(inputs: Path, out: Path, *extra: str) -> float:
    """Wall seconds of one ``vidal mine`` of ``inputs`` into ``out``."""
    command = [sys.executable, "-m", "vidal.cli", "mine", str(inputs), "--model", str(SHARED_MODEL), "--classes", "person,car",
               "--no-push", "--out", str(out), *extra]
    measured = measure(command, cwd=REPO)
    return measured.wall_s


class Mongod:
    """FiftyOne's ``mongod`` on a free 127.0.0.1 port and a folder of its own."""

    def __init__(self, folder: Path) -> None:
        binary = fiftyone_file("db/bin/mongod")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        folder.mkdir(parents=True)
        self.server = subprocess.Popen([str(binary), "--dbpath", str(folder), "--port", str(self.port), "--bind_ip",
                                        "127.0.0.1", "--nounixsocket", "--logpath", str(folder / "mongod.log")],
                                       stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"mongod did not start: see {folder / 'mongod.log'}")

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)


def push_rates(runs: list[Path], work: Path) -> dict[int, tuple[int, float]]:
    """For each count of concurrent pushers: frames pushed by all, and seconds from start to the last end."""
    mongod = Mongod(work / "mongodb")
    env = dict(os.environ, FIFTYONE_DATABASE_URI=mongod.uri, FIFTYONE_DO_NOT_TRACK="true", VIDAL_WORKER="0",
               VIDAL_HOME=str(work / "home"), PYTHONPATH=str(REPO))
    out: dict[int, tuple[int, float]] = {}
    try:
        for count in PUSHERS:
            start = time.time() + 20  # after every pusher has imported fiftyone
            children = [subprocess.Popen([sys.executable, "-c", PUSH, str(start), f"push-{count}-{k}",
                                          str(work / "media" / f"{count}-{k}"), *map(str, runs)],
                                         env=env, stdout=subprocess.PIPE, text=True, cwd=REPO)
                        for k in range(count)]
            ends, frames = [], 0
            for child in children:
                stdout, _ = child.communicate(timeout=3600)
                if child.returncode != 0:
                    raise SystemExit(f"a pusher failed ({child.returncode})")
                added, end = stdout.split()[-2:]
                frames += int(added)
                ends.append(float(end))
            out[count] = (frames, max(ends) - start)
            print(f"{count} pushers: {frames} frames in {out[count][1]:.1f} s, {frames / out[count][1]:.1f} frames/s")
    finally:
        mongod.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--chunks", action="store_true", help="only one long video, serial against chunks in 2 workers")
    args = parser.parse_args()
    offline_ultralytics()
    work = scratch_folder("vidal-bench-scale-")
    if args.chunks:
        text = long_video(work)
        print(text)
        if not args.no_write:
            write_section("Scale-out: one long video in chunks", text)
        return 0
    videos = work / "videos"
    videos.mkdir()
    for path in INPUTS:
        (videos / path.name).symlink_to(path)
    frames = sum(open_source(p).info.frame_count for p in INPUTS)
    load_before = os.getloadavg()[0]
    walls = {
        "serial": mine(videos, work / "serial"),
        "--workers 2": mine(videos, work / "workers", "--workers", "2"),
        "--ray local": mine(videos, work / "ray", "--ray", "local"),
    }
    picks = {name: selections(work / folder) for name, folder in
             (("serial", "serial"), ("--workers 2", "workers"), ("--ray local", "ray"))}
    for name, wall in walls.items():
        print(f"{name:12s} {frames} frames in {wall:.1f} s: {frames / wall:.1f} frames/s, "
              f"{wall / walls['serial']:.3f}x serial's time")
    same = {name: picks[name] == picks["serial"] for name in picks}
    soccer = work / "soccer"
    soccer_wall = mine(SOCCER, soccer, "--end", str(SOCCER_FRAMES))
    soccer_rate = SOCCER_FRAMES / soccer_wall
    print(f"1080p (SNMOT-116, {SOCCER_FRAMES} frames, serial): {soccer_rate:.2f} frames/s")
    mine(videos, work / "push-runs", "--budget", "30%")
    rates = push_rates(sorted(p for p in (work / "push-runs").iterdir() if p.is_dir()), work)
    load_after = os.getloadavg()[0]
    text = report(frames, walls, same, soccer_rate, rates, (load_before, load_after))
    print(text)
    if not args.no_write:
        write_section("Scale-out: workers, Ray and pushes", text)
    return 0


def report(frames: int, walls: dict[str, float], same: dict[str, bool], soccer_rate: float,
           rates: dict[int, tuple[int, float]], load: tuple[float, float]) -> str:
    lines = [
        f"4 clips, {frames} frames of 640x480-ish video (TUD-Stadtmitte, TUD-Campus, the parking lot, the sample "
        "crossing), shared COCO YOLO11n int8 OpenVINO, `--classes person,car --budget 5% --no-push`, each way in a "
        f"fresh process, one after the other (load average {load[0]:.1f} before, {load[1]:.1f} after).",
        "",
        "| way | wall s | frames/s | time against serial | same selection as serial |",
        "|---|---|---|---|---|",
    ]
    for name, wall in walls.items():
        lines.append(f"| {name} | {wall:.1f} | {frames / wall:.1f} | {wall / walls['serial']:.3f}x | "
                     f"{'yes' if same[name] else 'no'} |")
    lines += ["", "| concurrent pushers (one mongod) | frames pushed | seconds | frames/s, all together |",
              "|---|---|---|---|"]
    for count, (pushed, seconds) in rates.items():
        lines.append(f"| {count} | {pushed} | {seconds:.1f} | {pushed / seconds:.1f} |")
    efficiency = walls["serial"] / walls["--ray local"]
    total = HOURS * 3600 * FPS
    push_rate = rates[1][0] / rates[1][1]
    push_hours = total * SHARE / push_rate / 3600
    lines += [
        "",
        f"Projection for {HOURS:,} hours of {FPS} fps 1080p video ({total / 1e6:.0f} million frames; {SHARE:.0%} "
        f"selected and pushed): a node like this one mines 1080p at {soccer_rate:.2f} frames/s (SNMOT-116, serial, "
        f"{SOCCER_FRAMES} frames), Ray keeps {efficiency:.2f} of serial's throughput here, and the `vidal mine` "
        f"process pushes {push_rate:.1f} frames/s (one pusher), overlapping the mining.",
        "",
        "| nodes | mining, hours | pushing by the one `vidal mine` process, hours | the run, hours (the larger) |",
        "|---|---|---|---|",
    ]
    for nodes in NODES:
        mining = total / (soccer_rate * efficiency * nodes) / 3600
        lines.append(f"| {nodes} | {mining:,.0f} | {push_hours:,.0f} | {max(mining, push_hours):,.0f} |")
    return "\n".join(lines)


def long_video(work: Path) -> str:
    """SNMOT-116 mined serially and in chunks of 15 s by 2 workers, side by side."""
    frames = open_source(SOCCER).info.frame_count
    load_before = os.getloadavg()[0]
    common = ("--classes", "person", "--budget", "5%")
    serial = mine(SOCCER, work / "long-serial", *common)
    chunked = mine(SOCCER, work / "long-chunks", *common, "--workers", "2", "--set", "scale.chunk_s=15")
    load_after = os.getloadavg()[0]
    runs = {name: next(p for p in (work / name).iterdir() if p.is_dir()) for name in ("long-serial", "long-chunks")}
    same_selection = selections(work / "long-serial") == selections(work / "long-chunks")
    same_tracks = all((runs["long-serial"] / f).read_bytes() == (runs["long-chunks"] / f).read_bytes()
                      for f in ("tracks.txt", "frames.csv", "selection.csv"))
    timings = json.loads((runs["long-chunks"] / "summary.json").read_text())["timings"]
    chunks, final = timings["chunks"], timings["processing_seconds"]
    lines = [
        f"SNMOT-116 ({frames} frames, 1920x1080), shared COCO YOLO11n int8 OpenVINO, `{' '.join(common)} --no-push`, "
        f"each way in a fresh `vidal mine` process, one after the other (load average {load_before:.1f} before, "
        f"{load_after:.1f} after). Chunked: `--workers 2 --set scale.chunk_s=15`.",
        "",
        "| way | wall s | frames/s | time against serial |",
        "|---|---|---|---|",
        f"| serial | {serial:.1f} | {frames / serial:.2f} | 1.000x |",
        f"| `--workers 2`, {chunks['chunks']} chunks | {chunked:.1f} | {frames / chunked:.2f} | {chunked / serial:.3f}x |",
        "",
        f"- Same selection as serial: {'yes' if same_selection else 'no'}; same `tracks.txt`, `frames.csv` and "
        f"`selection.csv`, byte for byte: {'yes' if same_tracks else 'no'}; frames detected again in the final "
        f"pass: {chunks['detected_again']}.",
        f"- The chunk tasks took {chunks['chunk_seconds']:.1f} s in all (decoding and detecting, "
        f"{1000 * chunks['chunk_seconds'] / frames:.1f} ms a frame), the final pass (decoding again, tracking, "
        f"scoring) {final:.1f} s ({1000 * final / frames:.1f} ms a frame): with N workers one video takes about "
        f"chunks / N + final pass, so its speed-up stays under "
        f"{(chunks['chunk_seconds'] + final) / final:.1f}x however many nodes there are.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
