"""Reading another system's detections and tracks; refusing files that cannot be the video's."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.detectors.imported import ImportedDetections, ImportedTracks, read_rows
from vidal.errors import DecodeError, InputError
from vidal.types import Frame

from conftest import SCENE_SIZE

runner = CliRunner()
# Two detections a frame on the 192x112, 64-frame scene.
GOOD_DET = "".join(f"{f},-1,10,40,24,24,0.9,1\n{f},-1,140,46,24,24,0.8,1\n" for f in range(1, 65))
GOOD_TRACKS = "".join(f"{f},1,10,40,24,24,0.9\n{f},2,140,46,24,24,0.8\n" for f in range(1, 65))
# The same with both classes' scores (classes.txt: person, car).
GOOD_SCORED = "".join(f"{f},-1,10,40,24,24,0.9,1,0.9,0.05\n{f},-1,140,46,24,24,0.8,2,0.7,0.8\n" for f in range(1, 65))
TWO_CLASSES = {"classes.txt": "person\ncar\n"}


def scored_line_6(new: str) -> str:
    """GOOD_SCORED with its 6th line (frame 3's second box) replaced by ``new``."""
    return GOOD_SCORED.replace("3,-1,140,46,24,24,0.8,2,0.7,0.8", new)


def test_rows_classes_and_order(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("2,-1,1,2,3,4,0.5,2\n\n1,-1,5,6,7,8,0.25,-1\n1,-1,0,0,10,10,0.75,1\n")
    rows = read_rows(path, tracks=False, names={0: "person", 1: "car"})
    assert rows.frame.tolist() == [2, 1, 1]
    assert rows.line.tolist() == [1, 3, 4]
    assert rows.class_id.tolist() == [1, 0, 0]  # class k is line k of the classes file: vidal's k - 1; -1: none
    np.testing.assert_array_equal(rows.xyxy[0], [1, 2, 4, 6])
    assert rows.track_id.tolist() == [-1, -1, -1]


@pytest.mark.parametrize(
    ("lines", "names", "expected"),
    [
        ("1,-1,1,2,3,4,0.5,2,0.25,0.5\n1,-1,1,2,3,4,0.9,1,0.9,0\n", 2, [[0.25, 0.5], [0.9, 0.0]]),
        ("1,-1,1,2,3,4,0.5,3,0.1,0.2,0.5\n", 3, [[0.1, 0.2, 0.5]]),
        ("1,-1,1,2,3,4,0.5,-1,-1,-1\n", 2, None),  # MOTChallenge det.txt: world x, y, z
        ("1,-1,1,2,3,4,0.5,1,0.3\n", 2, None),  # 9 columns: MOTChallenge gt's visibility
        ("1,-1,1,2,3,4,0.5,1,0.3,0.2\n", 3, None),  # not 8 + C columns: not read
        ("1,-1,1,2,3,4,0.5,1,0.3\n", 1, None),  # one class: its score is the box's
    ],
)
def test_per_class_score_columns(tmp_path: Path, lines: str, names: int, expected: list | None) -> None:
    path = tmp_path / "det.txt"
    path.write_text(lines)
    (tmp_path / "classes.txt").write_text("".join(f"class{k}\n" for k in range(names)))
    detector = ImportedDetections(path)
    assert detector.has_class_scores is (expected is not None)
    image = np.zeros((SCENE_SIZE[1], SCENE_SIZE[0], 3), np.uint8)
    (_, found), = detector.stream([Frame(1, 0.0, image)])
    if expected is None:
        assert found.class_scores is None
    else:
        np.testing.assert_allclose(found.class_scores, expected)
        assert found.class_scores.dtype == np.float32


def test_tracks_score_minus_one_is_certain(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("1,7,1,2,3,4,-1,-1,-1,-1\n")
    rows = read_rows(path, tracks=True, names={0: "object"})
    assert rows.confidence.tolist() == [1.0] and rows.track_id.tolist() == [7]


def test_stream_keeps_file_order_floor_and_clips(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("1,-1,150,10,60,20,0.3\n1,-1,0,0,5,5,0.1\n1,-1,10,10,5,5,0.6\n3,-1,1,1,5,5,0.9\n")
    detector = ImportedDetections(path, conf=0.1)
    image = np.zeros((SCENE_SIZE[1], SCENE_SIZE[0], 3), np.uint8)
    out = list(detector.stream(Frame(k, 0.0, image) for k in (1, 2, 3)))
    first = out[0][1]
    assert first.confidence.tolist() == pytest.approx([0.3, 0.6])  # 0.1 is not above the floor; file order kept
    np.testing.assert_array_equal(first.xyxy[0], [150, 10, 192, 30])  # clipped to the 192-pixel width
    assert len(out[1][1]) == 0 and len(out[2][1]) == 1
    assert detector.names == {0: "object"}


def test_stream_decodes_ahead_and_stops_where_decoding_broke(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,10,5,5,0.6\n2,-1,10,10,5,5,0.7\n")
    image = np.zeros((SCENE_SIZE[1], SCENE_SIZE[0], 3), np.uint8)
    decoded: list[int] = []
    ahead = threading.Event()

    def frames():
        for k in (1, 2, 3):
            decoded.append(k)
            if k == 3:
                ahead.set()
                raise DecodeError("frame 3 is corrupt", frame=2)
            yield Frame(k, 0.0, image)

    stream = ImportedDetections(path, conf=0.1).stream(frames())
    first, detections = next(stream)
    # The decoder went on while the first frame was in the consumer's hands.
    assert ahead.wait(timeout=30) and decoded == [1, 2, 3]
    assert first.index == 1 and detections.confidence.tolist() == pytest.approx([0.6])
    assert next(stream)[0].index == 2
    with pytest.raises(DecodeError, match="frame 3 is corrupt"):
        next(stream)


def test_classes_txt_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("person\ncar\n")
    path = tmp_path / "det.txt"
    path.write_text("1,-1,1,2,3,4,0.5,2\n")
    detector = ImportedDetections(path, classes=["car"])
    assert detector.names == {0: "person", 1: "car"} and detector.classes == [1]


def test_tracks_twice_in_a_frame(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("1,3,1,2,3,4,0.5\n1,4,1,2,3,4,0.5\n1,3,5,5,3,4,0.5\n")
    with pytest.raises(InputError, match=r"t.txt:3: track 3 again in frame 1 \(first at line 1\)"):
        ImportedTracks(path)


def _mine(*args: str):
    return runner.invoke(app, ["mine", "--no-push", *args])


@pytest.mark.parametrize(
    ("option", "content", "extra", "message"),
    [
        ("--detections", GOOD_DET + "70,-1,10,40,24,24,0.9,1\n", {}, "det.txt:129: frame past the end"),
        ("--detections", GOOD_DET.replace("3,-1,140,46", "3,-1,240,46"), {},
         "det.txt:6: box wholly outside the 192x112"),
        ("--detections", GOOD_DET.replace("3,-1,140,46,24,24", "3,-1,140,46,24,124"), {},
         "det.txt:6: box reaches more than 50% of the image beyond"),
        ("--detections", GOOD_DET.replace("5,-1,10,40,24,24,0.9", "5,-1,10,40,24,24,high"), {},
         "det.txt:9: 'high' is not a number"),
        ("--detections", GOOD_DET.replace("4,-1,10,40,24,24,0.9,1", "4,-1,10,40,24,24,0.9,3"),
         {"classes.txt": "person\ncar\n"}, "det.txt:7: class 3 is not named: the classes file names classes 1..2"),
        ("--detections", GOOD_DET.replace("4,-1,10,40,24,24,0.9,1", "4,-1,10,40,24,24,0.9,2"), {},
         "det.txt:7: class 2 is not named"),
        ("--detections", GOOD_DET, {"seqinfo.ini": "[Sequence]\nimWidth=1920\nimHeight=1080\n"},
         "seqinfo.ini gives imWidth=1920 but"),
        ("--detections", GOOD_DET.replace("2,-1,10,40", "2,5,10,40"), {}, "det.txt:3: column 2 must be -1"),
        ("--detections", GOOD_DET.replace("2,-1,10,40,24,24,0.9,1", "2,-1,10,40,24,24,0.9"), {},
         "det.txt:3: 7 columns, but line 1 has 8"),
        ("--detections", GOOD_DET.replace("2,-1,10,40,24,24,0.9", "2,-1,10,40,24,24,1.5"), {},
         "det.txt:3: score must be in [0, 1]"),
        ("--detections", GOOD_DET.replace("2,-1,10,40,24,24", "2,-1,10,40,0,24"), {},
         "det.txt:3: box width and height must be positive"),
        ("--detections", GOOD_DET.replace("2,-1,10", "0,-1,10"), {}, "det.txt:3: frame must be an integer from 1"),
        ("--detections", "", {}, "det.txt holds no rows"),
        ("--tracks", GOOD_TRACKS.replace("7,2,140", "7,1,140"), {}, "det.txt:14: track 1 again in frame 7"),
        ("--tracks", GOOD_TRACKS.replace("9,2,140", "9,-1,140"), {}, "det.txt:18: track id must be an integer"),
        ("--tracks", GOOD_TRACKS + "80,1,10,40,24,24,0.9\n", {}, "det.txt:129: frame past the end"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,2,0.7,1.8"),
         TWO_CLASSES, "det.txt:6: per-class scores must be in [0, 1]"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,2,-0.1,0.8"),
         TWO_CLASSES, "det.txt:6: per-class scores must be in [0, 1]"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,2,0.7,car"),
         TWO_CLASSES, "det.txt:6: 'car' is not a number"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,2,0.7,nan"),
         TWO_CLASSES, "det.txt:6: not a finite number"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,-1,0.7,0.8"),
         TWO_CLASSES, "det.txt:6: class -1 on a line with per-class scores"),
        ("--detections", scored_line_6("3,-1,140,46,24,24,0.8,2,0.7"),
         TWO_CLASSES, "det.txt:6: 9 columns, but line 1 has 10"),
    ],
)
def test_bad_file_refused_before_anything_is_written(
    tmp_path: Path, scene_video: Path, option: str, content: str, extra: dict[str, str], message: str
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    path = folder / "det.txt"
    path.write_text(content)
    for name, text in extra.items():
        (folder / name).write_text(text)
    out = tmp_path / "runs"
    result = _mine(str(scene_video), option, str(path), "--budget", "2", "--out", str(out))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert message in result.output.replace("\n", " ")
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--detections", "{det}", "--model", "x.pt"], "--model runs a detector"),
        (["--detections", "{det}", "--tracks", "{det}"], "either detections or tracks, not both"),
        (["--detections", "{det}", "{video}"], "holds the boxes of one video; 2 inputs were given"),
        (["--detections", "{tmp}/absent.txt"], "file not found"),
        (["--detections", "{det}", "--classes-file", "{tmp}/absent.txt"], "classes file not found"),
        (["--detections", "{det}", "--classes", "car"], "unknown class name 'car'"),
    ],
)
def test_bad_options_refused(tmp_path: Path, scene_video: Path, args: list[str], message: str) -> None:
    det = tmp_path / "det.txt"
    det.write_text(GOOD_DET)
    out = tmp_path / "runs"
    filled = [a.format(det=det, video=scene_video, tmp=tmp_path) for a in args]
    result = _mine(str(scene_video), *filled, "--budget", "2", "--out", str(out))
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " "), result.output
    assert not out.exists() or not list(out.iterdir())
