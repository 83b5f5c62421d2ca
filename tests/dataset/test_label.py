"""``vidal label --from-mot``: the simulated reviewer, on a real FiftyOne dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.label import label_from_mot
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW
from vidal.errors import DatasetError, InputError

from conftest import SCENE_FRAMES, SCENE_SIZE, mine_run, scene_boxes

pytestmark = pytest.mark.fiftyone
runner = CliRunner()


def write_gt(path: Path, frames: int = SCENE_FRAMES, *, columns: int = 9, shift: float = 0.0) -> Path:
    """The scene's true boxes as a MOTChallenge file; object 3 is a distractor (flag 0)."""
    lines = []
    for frame in range(1, frames + 1):
        for track, (x1, y1, x2, y2) in enumerate(scene_boxes(frame), start=1):
            row = [frame, track, x1 + shift, y1, x2 - x1, y2 - y1]
            if columns == 9:
                row += [0 if track == 3 else 1, 1, 1.0]
            elif columns == 10:
                row += [1, -1, -1, -1]
            lines.append(",".join(f"{v:g}" for v in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def mined(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> str:
    push_run(mine_run(scene_video, tmp_path / "runs", budget=10, names={0: "person"}), dataset_name)
    return dataset_name


def test_labels_every_mined_frame_and_tags_it_reviewed(fo, mined: str, tmp_path: Path, scene_video: Path) -> None:
    gt = write_gt(tmp_path / "SEQ" / "gt" / "gt.txt")
    report = label_from_mot(mined, gt, scene_video)
    assert (report.samples, report.labelled, report.with_boxes, report.kept) == (10, 10, 10, 0)
    assert report.boxes == 20 and report.ignored_rows == SCENE_FRAMES  # object 3 is flagged 0
    dataset = fo.load_dataset(mined)
    assert len(dataset.match_tags(TAG_REVIEWED)) == 10 and len(dataset.match_tags(TAG_TO_REVIEW)) == 0
    width, height = SCENE_SIZE
    for sample in dataset.iter_samples():
        truth = sorted(sample.ground_truth.detections, key=lambda d: d.index)
        assert [d.index for d in truth] == [1, 2] and {d.label for d in truth} == {"person"}
        expected = scene_boxes(sample.frame_number)[:2]
        for det, (x1, y1, x2, y2) in zip(truth, expected):
            x, y, w, h = det.bounding_box
            assert x * width == pytest.approx(max(x1, 0)) and (x + w) * width == pytest.approx(min(x2, width))
            assert y * height == pytest.approx(y1) and h * height == pytest.approx(y2 - y1)
    # Idempotent: the same file again gives the same dataset, and a re-push keeps it.
    def content(ds) -> list:
        return [[(d.label, d.index, d.bounding_box) for d in g.detections] for g in ds.values("ground_truth")]

    before = content(dataset)
    assert label_from_mot(mined, gt, scene_video).labelled == 10
    assert content(fo.load_dataset(mined)) == before
    assert push_run(mine_run(scene_video, tmp_path / "again", budget=10, names={0: "person"}), mined).protected == 10


def test_a_human_review_is_kept_unless_asked(fo, mined: str, tmp_path: Path, scene_video: Path) -> None:
    dataset = fo.load_dataset(mined)
    sample = dataset.sort_by("frame_number").first()
    sample.ground_truth.detections = sample.ground_truth.detections[:1]
    sample.tags = [TAG_REVIEWED]
    sample.save()
    gt = write_gt(tmp_path / "SEQ" / "gt" / "gt.txt")
    report = label_from_mot(mined, gt, scene_video)
    assert (report.labelled, report.kept) == (9, 1)
    sample.reload()
    assert len(sample.ground_truth.detections) == 1
    assert label_from_mot(mined, gt, scene_video, overwrite_reviewed=True).labelled == 10


def test_mot15_layout_and_frames_without_objects(fo, mined: str, tmp_path: Path, scene_video: Path) -> None:
    gt = write_gt(tmp_path / "gt.txt", columns=10)
    frames = fo.load_dataset(mined).values("frame_number")
    gt.write_text("\n".join(l for l in gt.read_text().splitlines() if int(l.split(",")[0]) != frames[0]) + "\n")
    report = label_from_mot(mined, gt, scene_video)
    assert (report.labelled, report.with_boxes, report.ignored_rows) == (10, 9, 0)
    assert report.boxes == 9 * 3


def test_class_names_come_from_a_classes_file(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs", budget=4, names={0: "person", 1: "robot"}), dataset_name)
    gt = write_gt(tmp_path / "SEQ" / "gt" / "gt.txt")
    gt.write_text(gt.read_text().replace(",1,1,1\n", ",1,2,1\n"))  # every evaluated row is class 2
    (tmp_path / "SEQ" / "classes.txt").write_text("person\nrobot\n")
    label_from_mot(dataset_name, gt, scene_video)
    assert set(fo.load_dataset(dataset_name).distinct("ground_truth.detections.label")) == {"robot"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda gt: write_gt(gt, frames=SCENE_FRAMES + 5), "has frames up to 69, but scene has 64"),
        (lambda gt: write_gt(gt, shift=400), "lie outside the 192x112 image of scene"),
        (lambda gt: gt.write_text("1,1,2,3\n"), "line 1: expected at least 6 comma-separated numbers"),
        (lambda gt: gt.write_text("1,1,2,3,4,5,1,1,1\n2,1,x,3,4,5,1,1,1\n"), "line 2: expected 9"),
        (lambda gt: gt.write_text(""), "has no boxes"),
        (lambda gt: (write_gt(gt), (gt.parent.parent / "seqinfo.ini").write_text(
            "[Sequence]\nimWidth=1920\nimHeight=1080\nseqLength=64\n")), "for a 1920x1080 sequence"),
    ],
)
def test_ground_truth_that_does_not_fit_is_refused(
    fo, mined: str, tmp_path: Path, scene_video: Path, change, message: str
) -> None:
    gt = tmp_path / "SEQ" / "gt" / "gt.txt"
    gt.parent.mkdir(parents=True)
    change(gt)
    before = fo.load_dataset(mined).values("ground_truth")
    with pytest.raises(InputError, match=message):
        label_from_mot(mined, gt, scene_video)
    dataset = fo.load_dataset(mined)
    assert dataset.values("ground_truth") == before and len(dataset.match_tags(TAG_REVIEWED)) == 0


def test_unknown_classes_and_unmined_videos_are_refused(fo, mined: str, tmp_path: Path, scene_video: Path) -> None:
    gt = write_gt(tmp_path / "SEQ" / "gt" / "gt.txt")
    (tmp_path / "SEQ" / "classes.txt").write_text("cyclist\n")
    with pytest.raises(DatasetError, match="labels cyclist, which dataset"):
        label_from_mot(mined, gt, scene_video)
    other = tmp_path / "other.mp4"
    other.write_bytes(scene_video.read_bytes() + b"\0")  # same frames, other file: never mined
    with pytest.raises(DatasetError, match="no mined frames of other"):
        label_from_mot(mined, gt, other, classes=tmp_path / "names.txt") if (tmp_path / "names.txt").write_text(
            "person\n") else None


def test_label_command(mined: str, tmp_path: Path, scene_video: Path) -> None:
    gt = write_gt(tmp_path / "SEQ" / "gt" / "gt.txt")
    args = ["label", "--from-mot", str(gt), "--video", str(scene_video), "--dataset", mined]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "labelled 10 of 10 mined frames of scene.mp4 from gt.txt (10 with boxes, 20 boxes" in result.output
    bad = runner.invoke(app, ["label", "--from-mot", str(tmp_path / "missing.txt"), "--video", str(scene_video),
                              "--dataset", mined])
    assert bad.exit_code == 2 and "cannot read ground truth" in bad.output and len(bad.output.strip().splitlines()) == 1


