"""``vidal label --from-mot``: the simulated reviewer, on real FiftyOne datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vidal.cli import app
from vidal.dataset import push_run
from vidal.dataset.label import check_fits, check_seqinfo, label_from_mot, resolve_classes, resolve_roles, row_labels
from vidal.dataset.schema import TAG_REVIEWED, TAG_TO_REVIEW, fingerprint
from vidal.errors import DatasetError, InputError
from vidal.mot import BALL_CLASS, PERSON_CLASS, read_gt
from vidal.video import open_source

from conftest import REPO, SAMPLE_MODEL, SAMPLE_VIDEO, SCENE_FRAMES, SHARED, SCENE_SIZE, mine_run, scene_boxes, write_scene_video

pytestmark = pytest.mark.fiftyone
runner = CliRunner()
WIDTH, HEIGHT = SCENE_SIZE


def scene_rows(frames: range = range(1, SCENE_FRAMES + 1)) -> list[list[float]]:
    """MOT17 rows of the scene: ``frame, id, left, top, w, h, flag, class, visibility``."""
    rows = []
    for frame in frames:
        for ident, (x1, y1, x2, y2) in enumerate(scene_boxes(frame).tolist(), start=1):
            rows.append([frame, ident, x1, y1, x2 - x1, y2 - y1, 1, 1, 1.0])
    return rows


def write_gt(folder: Path, rows: list[list[float]] | list[str], classes: str | None = "square\n") -> Path:
    """Write ``folder/gt/gt.txt`` (and ``folder/classes.txt``); rows as numbers or raw lines."""
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else ",".join(f"{v:g}" for v in row) for row in rows]
    path = folder / "gt" / "gt.txt"
    path.write_text("\n".join(lines) + "\n")
    if classes is not None:
        (folder / "classes.txt").write_text(classes)
    return path


@pytest.fixture
def mined(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> tuple[str, Path]:
    """A dataset holding 6 mined frames of the scene video, drafts to review."""
    push_run(mine_run(scene_video, tmp_path / "runs"), dataset_name)
    return dataset_name, scene_video


def untouched(dataset) -> bool:
    """Every sample is as the push left it: a draft to review."""
    dataset.reload()
    return all(
        s.tags == [TAG_TO_REVIEW] and fingerprint(s.ground_truth) == s.draft_fingerprint for s in dataset
    )


def test_label_fills_ground_truth_and_tags_reviewed(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    report = label_from_mot(name, write_gt(tmp_path / "seq", scene_rows()), video)
    dataset = fo.load_dataset(name)
    assert (report.frames, report.matched, report.empty, report.written, report.unchanged) == (6, 6, 0, 6, 0)
    assert (report.boxes, report.kept, report.rows, report.ignored_rows) == (18, 0, 3 * SCENE_FRAMES, 0)
    assert report.classes == {1: "square"}  # found beside gt/
    for sample in dataset:
        assert sample.tags == [TAG_REVIEWED]
        boxes = sorted(sample.ground_truth.detections, key=lambda d: d.index)
        assert [d.index for d in boxes] == [1, 2, 3] and {d.label for d in boxes} == {"square"}
        x1, y1, x2, y2 = scene_boxes(sample.frame_number).T
        expected = np.c_[x1 / WIDTH, y1 / HEIGHT, (x2 - x1) / WIDTH, (y2 - y1) / HEIGHT]
        np.testing.assert_allclose([d.bounding_box for d in boxes], expected, atol=1e-6)
    # labelled frames are a human's now: a new mining run (of every frame) keeps them
    labelled = {s.id: fingerprint(s.ground_truth) for s in dataset}
    again = push_run(mine_run(video, tmp_path / "runs", budget="100%", noise=3.0, seed=5), name)
    assert again.protected == 6 and again.added == SCENE_FRAMES - 6
    dataset.reload()
    assert all(dataset[i].tags == [TAG_REVIEWED] and fingerprint(dataset[i].ground_truth) == f for i, f in labelled.items())


def test_label_again_changes_nothing(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    gt = write_gt(tmp_path / "seq", scene_rows())
    label_from_mot(name, gt, video)
    dataset = fo.load_dataset(name)
    before = {s.id: (fingerprint(s.ground_truth), s.tags) for s in dataset}
    report = label_from_mot(name, gt, video)
    assert (report.written, report.unchanged, report.boxes) == (0, 6, 18)
    dataset.reload()
    assert {s.id: (fingerprint(s.ground_truth), s.tags) for s in dataset} == before


@pytest.mark.parametrize(
    ("change", "boxes_per_frame", "ignored"),
    [
        ("mot17", 3, 0),
        ("flag 0 on id 3", 2, SCENE_FRAMES),  # MOTChallenge's "ignore" rows
        ("class 8 on id 2", 2, SCENE_FRAMES),  # a MOT17 distractor: no label of ours
        ("mot15", 3, 0),  # frame,id,box,flag,x,y,z: every row a pedestrian
        ("7 columns", 3, 0),
    ],
)
def test_layouts_flags_and_classes(fo, mined, tmp_path: Path, change: str, boxes_per_frame: int, ignored: int) -> None:
    name, video = mined
    rows = scene_rows()
    for row in rows:
        if change == "flag 0 on id 3" and row[1] == 3:
            row[6] = 0
        if change == "class 8 on id 2" and row[1] == 2:
            row[7] = 8
    if change == "mot15":
        rows = [row[:7] + [-1, -1, -1] for row in rows]
    if change == "7 columns":
        rows = [row[:7] for row in rows]
    report = label_from_mot(name, write_gt(tmp_path / "seq", rows), video)
    assert report.boxes == 6 * boxes_per_frame and report.ignored_rows == ignored
    assert all(len(s.ground_truth.detections) == boxes_per_frame for s in fo.load_dataset(name))


def test_frames_without_rows_are_labelled_empty(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    frames = sorted(fo.load_dataset(name).values("frame_number"))
    cut = frames[3]
    report = label_from_mot(name, write_gt(tmp_path / "seq", scene_rows(range(1, cut))), video)
    assert (report.matched, report.empty, report.written) == (3, 3, 6)
    for sample in fo.load_dataset(name):
        assert sample.tags == [TAG_REVIEWED]
        assert len(sample.ground_truth.detections) == (3 if sample.frame_number < cut else 0)


def test_boxes_crossing_the_border_are_clipped(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    rows = scene_rows()
    for row in rows:
        if row[1] == 3:
            row[3] -= 10  # the still square at y=5, 18 px high, now starts 5 px above the image
    report = label_from_mot(name, write_gt(tmp_path / "seq", rows), video)
    assert (report.boxes, report.clipped) == (18, 6)
    third = [d for s in fo.load_dataset(name) for d in s.ground_truth.detections if d.index == 3]
    np.testing.assert_allclose([d.bounding_box for d in third], [[80 / WIDTH, 0, 18 / WIDTH, 13 / HEIGHT]] * 6, atol=1e-6)


def test_image_folder_with_auto_classes(fo, dataset_name: str, tmp_path: Path, scene_images: Path) -> None:
    push_run(mine_run(scene_images, tmp_path / "runs"), dataset_name)
    gt = write_gt(scene_images, scene_rows(range(1, 13)))
    report = label_from_mot(dataset_name, gt, scene_images / "img1")
    assert report.frames == report.matched == report.written == len(fo.load_dataset(dataset_name)) > 0
    assert report.classes == {1: "square"}


def test_human_corrections_are_kept_unless_overwritten(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    dataset = fo.load_dataset(name)
    corrected = dataset.sort_by("frame_number").first()
    corrected.ground_truth = fo.Detections(detections=[fo.Detection(label="square", bounding_box=[0.1, 0.1, 0.2, 0.2])])
    corrected.tags = [TAG_REVIEWED]
    corrected.save()
    gt = write_gt(tmp_path / "seq", scene_rows())
    report = label_from_mot(name, gt, video)
    assert (report.written, report.kept, report.boxes) == (5, 1, 15)
    assert dataset[corrected.id].ground_truth.detections[0].bounding_box == [0.1, 0.1, 0.2, 0.2]
    report = label_from_mot(name, gt, video, overwrite=True)
    assert (report.written, report.unchanged, report.kept) == (1, 5, 0)
    assert len(fo.load_dataset(name)[corrected.id].ground_truth.detections) == 3


def test_a_crash_midway_leaves_whole_samples(fo, mined, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import vidal.dataset.label as label_module

    name, video = mined
    gt = write_gt(tmp_path / "seq", scene_rows())
    real_write, calls = label_module._write, []

    def dying_write(*args, **kwargs):
        if len(calls) == 2:
            raise RuntimeError("killed")
        calls.append(1)
        return real_write(*args, **kwargs)

    monkeypatch.setattr(label_module, "_write", dying_write)
    with pytest.raises(RuntimeError):
        label_from_mot(name, gt, video)
    dataset = fo.load_dataset(name)
    states = [
        ("labelled" if s.tags == [TAG_REVIEWED] and len(s.ground_truth.detections) == 3 else
         "draft" if s.tags == [TAG_TO_REVIEW] and fingerprint(s.ground_truth) == s.draft_fingerprint else "half")
        for s in dataset
    ]
    assert sorted(states) == ["draft"] * 4 + ["labelled"] * 2
    monkeypatch.setattr(label_module, "_write", real_write)
    report = label_from_mot(name, gt, video)
    assert (report.written, report.unchanged) == (4, 2)


def far_box(rows: list[list[float]]) -> list[list[float]]:
    rows[40][2] = 500.0  # 3x past the 192-px-wide image
    return rows


def outside_boxes(rows: list[list[float]]) -> list[list[float]]:
    for row in rows[:10]:  # 5% of the boxes wholly right of the image, yet near it
        row[2] = WIDTH + 8.0
    return rows


def gt_of_a_larger_video(rows: list[list[float]]) -> list[list[float]]:
    return [[r[0], r[1], r[2] * 3, r[3] * 3, r[4] * 3, r[5] * 3, *r[6:]] for r in rows]


@pytest.mark.parametrize(
    ("rows", "error", "text"),
    [
        (lambda r: r + [[SCENE_FRAMES + 30, 1, 10, 10, 5, 5, 1, 1, 1]], InputError, f"gt.txt:{3 * SCENE_FRAMES + 1}: frame 94 is past the end"),
        (far_box, InputError, "gt.txt:41: box reaches"),
        (outside_boxes, InputError, "10 of 192 boxes (5%) lie outside the 192x112 image"),
        (gt_of_a_larger_video, InputError, "beyond the 192x112 image"),
        (lambda r: r[:4] + ["1,5,abc,1,2,3,1,1,1"] + r[4:], InputError, "gt.txt:5: not a number"),
        (lambda r: ["1,5,1,1,2,3,1,1"] + r, InputError, "gt.txt:1: 8 columns is no MOTChallenge"),
        (lambda r: r[:2] + ["1,5,1,1,2,3,1"] + r[2:], InputError, "gt.txt:3: 7 columns, but line 1 has 9"),
        (lambda r: r[:2] + ["0,5,1,1,2,3,1,1,1"] + r[2:], InputError, "gt.txt:3: frame must be an integer from 1"),
        (lambda r: r[:2] + ["2,5,1,1,0,3,1,1,1"] + r[2:], InputError, "gt.txt:3: box width and height must be positive"),
        (lambda r: r[:2] + ["2,5,1,1,2,3,1,0,1"] + r[2:], InputError, "gt.txt:3: class must be an integer from 1"),
        (lambda r: [], InputError, "holds no ground-truth rows"),
        (lambda r: r[:3] + [r[0]] + r[3:], InputError, "gt.txt:4: id 1 again in frame 1 (first at line 1)"),
    ],
)
def test_ground_truth_that_does_not_fit_is_refused(fo, mined, tmp_path: Path, rows, error, text: str) -> None:
    name, video = mined
    gt = write_gt(tmp_path / "seq", rows(scene_rows()))
    with pytest.raises(error) as caught:
        label_from_mot(name, gt, video)
    assert text in str(caught.value) and "\n" not in str(caught.value)
    assert untouched(fo.load_dataset(name))


def test_unknown_class_is_refused(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    gt = write_gt(tmp_path / "seq", scene_rows(), classes=None)  # default: class 1 is "person"
    with pytest.raises(DatasetError, match=r"class 'person' of the ground truth \(1=person\) is not a class of dataset"):
        label_from_mot(name, gt, video)
    classes = tmp_path / "names.txt"
    classes.write_text("circle\n")
    with pytest.raises(DatasetError, match="class 'circle'"):
        label_from_mot(name, gt, video, classes=classes)
    assert untouched(fo.load_dataset(name))


def test_unknown_video_is_refused(fo, mined, tmp_path: Path) -> None:
    name, _ = mined
    other = write_scene_video(tmp_path / "other.mp4", frames=SCENE_FRAMES - 1)
    gt = write_gt(tmp_path / "seq", scene_rows(range(1, SCENE_FRAMES)))
    with pytest.raises(DatasetError, match=f"dataset '{name}' has no mined frames of .*other.mp4"):
        label_from_mot(name, gt, other)
    assert untouched(fo.load_dataset(name))


def test_seqinfo_of_another_size_is_refused(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    gt = write_gt(tmp_path / "seq", scene_rows())
    (tmp_path / "seq" / "seqinfo.ini").write_text("[Sequence]\nimWidth=640\nimHeight=480\nseqLength=64\n")
    with pytest.raises(InputError, match="seqinfo.ini gives imWidth=640 but .* has 192"):
        label_from_mot(name, gt, video)
    assert untouched(fo.load_dataset(name))


def test_read_gt_keeps_line_numbers(tmp_path: Path) -> None:
    gt = read_gt(write_gt(tmp_path, ["", "1,1,1,2,3,4,1,1,1", "", "2,7,1,2,3,4,0,2,0.5"], classes=None))
    assert gt.line.tolist() == [2, 4] and gt.class_id.tolist() == [1, 2] and gt.flag.tolist() == [1, 0]
    assert gt.xyxy.tolist() == [[1, 2, 4, 6], [1, 2, 4, 6]] and gt.track_id.tolist() == [1, 7]


MOT = SHARED / "data" / "mot"


@pytest.mark.shared
@pytest.mark.skipif(not MOT.exists(), reason="../shared absent")
def test_real_ground_truth_fits_its_video_and_not_another() -> None:
    """The tolerances of check_fits pass every real sequence here (MOT15 videos, trimmed MOT17 folders)."""
    sequences = {p.parent: p.parent / f"{p.parent.name}.mp4" for p in MOT.glob("TUD-*/seqinfo.ini")}
    sequences.update({p.parent: p.parent for p in MOT.glob("MOT17-mini/train/*/seqinfo.ini")})
    assert len(sequences) >= 9
    for folder, video in sequences.items():
        gt_path, info = folder / "gt" / "gt.txt", open_source(video).info
        check_seqinfo(gt_path, info)
        check_fits(read_gt(gt_path), info, gt_path)
    campus = open_source(MOT / "TUD-Campus" / "TUD-Campus.mp4").info  # 640x480, 71 frames
    crowd = MOT / "MOT17-mini" / "train" / "MOT17-04-FRCNN" / "gt" / "gt.txt"  # 1920x1080
    with pytest.raises(InputError, match="another video"):
        check_seqinfo(crowd, campus)
    with pytest.raises(InputError, match="another video"):
        check_fits(read_gt(crowd), campus, crowd)


def test_label_command(fo, mined, tmp_path: Path) -> None:
    name, video = mined
    gt = write_gt(tmp_path / "seq", scene_rows())
    args = ["label", "--from-mot", str(gt), "--video", str(video), "--dataset", name]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "matched 6 of 6 mined frames of scene.mp4" in result.output and "6 labelled" in result.output
    assert "18 boxes" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 labelled, 6 unchanged" in again.output


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ("malformed", "gt.txt:2: not a number"),
        ("no video", "input not found"),
        ("no dataset", "no dataset 'no-such-dataset'"),
        ("no classes file", "cannot read classes file"),
    ],
)
def test_label_command_bad_input(fo, mined, tmp_path: Path, change: str, text: str) -> None:
    name, video = mined
    rows: list = scene_rows()
    if change == "malformed":
        rows[1] = "1,2,x,1,1,1,1,1,1"
    gt = write_gt(tmp_path / "seq", rows)
    args = ["label", "--from-mot", str(gt), "--video", str(video), "--dataset", name]
    if change == "no video":
        args[4] = str(tmp_path / "nowhere.mp4")
    if change == "no dataset":
        args[6] = "no-such-dataset"
    if change == "no classes file":
        args += ["--classes", str(tmp_path / "missing.txt")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert text in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.slow
def test_sample_clip_labelled_from_its_ground_truth(fo, dataset_name: str, tmp_path: Path) -> None:
    gt_path = REPO / "sample_videos" / "crossing" / "gt" / "gt.txt"
    result = runner.invoke(
        app, ["mine", str(SAMPLE_VIDEO), "--model", str(SAMPLE_MODEL), "--out", str(tmp_path), "--budget", "8",
              "--end", "100", "--dataset", dataset_name]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["label", "--from-mot", str(gt_path), "--video", str(SAMPLE_VIDEO), "--dataset", dataset_name])
    assert result.exit_code == 0, result.output
    assert "matched 8 of 8 mined frames of crossing.mp4" in result.output
    gt = np.loadtxt(gt_path, delimiter=",")
    dataset = fo.load_dataset(dataset_name)
    for sample in dataset:
        rows = gt[(gt[:, 0] == sample.frame_number) & (gt[:, 6] != 0)]
        boxes = sample.ground_truth.detections
        assert sample.tags == [TAG_REVIEWED] and len(boxes) == len(rows)
        names = {1: "person", 2: "robot"}  # sample_videos/crossing/classes.txt
        expected = sorted((int(r[1]), names[int(r[7])]) for r in rows)
        assert sorted((d.index, d.label) for d in boxes) == expected
    labels = {d.label for s in dataset for d in s.ground_truth.detections}
    assert labels == {"person", "robot"}


# The scene as SoccerNet gives it: MOT15 rows (no class column) and a gameinfo.ini naming each
# track's role; the small still square (track 3) plays the ball.
SOCCER_GAMEINFO = """[Sequence]
name=SCENE
num_tracklets=3
trackletID_1= player team left;7
trackletID_2= goalkeepers team right;1
trackletID_3= ball;1
"""


def write_soccer_gt(folder: Path, gameinfo: str = SOCCER_GAMEINFO) -> Path:
    """``folder/gt/gt.txt`` in the MOT15 layout and ``folder/gameinfo.ini``."""
    gt = write_gt(folder, [row[:7] + [-1, -1, -1] for row in scene_rows()], classes=None)
    (folder / "gameinfo.ini").write_text(gameinfo)
    return gt


@pytest.fixture
def mined_soccer(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> tuple[str, Path]:
    """6 mined frames of the scene in a dataset of COCO's classes ``person`` and ``sports ball``."""
    push_run(mine_run(scene_video, tmp_path / "runs", names={0: PERSON_CLASS, 32: BALL_CLASS}), dataset_name)
    return dataset_name, scene_video


def test_label_command_names_classes_by_gameinfo_roles(fo, mined_soccer, tmp_path: Path) -> None:
    name, video = mined_soccer
    gt = write_soccer_gt(tmp_path / "SEQ")
    (tmp_path / "SEQ" / "classes.txt").write_text("square\n")  # the roles name the rows, not a classes.txt
    result = runner.invoke(app, ["label", "--from-mot", str(gt), "--video", str(video), "--dataset", name])
    assert result.exit_code == 0, result.output
    assert "6 labelled" in result.output and "18 boxes" in result.output
    dataset = fo.load_dataset(name)
    assert len(dataset) == 6
    for sample in dataset:
        assert sample.tags == [TAG_REVIEWED]
        assert sorted((d.index, d.label) for d in sample.ground_truth.detections) == [
            (1, PERSON_CLASS), (2, PERSON_CLASS), (3, BALL_CLASS)
        ]
    # an explicit --classes wins over the gameinfo: every row of a MOT15 file is class 1
    names = tmp_path / "names.txt"
    names.write_text("person\n")
    result = runner.invoke(
        app, ["label", "--from-mot", str(gt), "--video", str(video), "--dataset", name, "--classes", str(names)]
    )
    assert result.exit_code == 0, result.output
    assert "6 kept as corrected by hand" in result.output  # the frames reviewed above differ now
    report = label_from_mot(name, gt, video, classes=names, overwrite=True)
    assert (report.written, report.classes, report.roles) == (6, {1: PERSON_CLASS}, None)
    assert {d.label for s in fo.load_dataset(name) for d in s.ground_truth.detections} == {PERSON_CLASS}


def test_gameinfo_track_without_role_is_a_person(fo, mined_soccer, tmp_path: Path, caplog) -> None:
    name, video = mined_soccer
    # track 2 unnamed; track 9 named but without rows
    gameinfo = "[Sequence]\ntrackletID_1= referee;main\ntrackletID_3= ball;1\ntrackletID_9= ball;2\n"
    gt = write_soccer_gt(tmp_path / "SEQ", gameinfo)
    with caplog.at_level("WARNING", logger="vidal.mot"):
        report = label_from_mot(name, gt, video)
    assert "1 ground-truth tracks have no role in the gameinfo (ids 2): labelled 'person'" in caplog.text
    assert report.roles == {1: "referee", 3: "ball", 9: "ball"} and report.classes is None
    assert (report.written, report.boxes, report.ignored_rows) == (6, 18, 0)
    labels = {(d.index, d.label) for s in fo.load_dataset(name) for d in s.ground_truth.detections}
    assert labels == {(1, PERSON_CLASS), (2, PERSON_CLASS), (3, BALL_CLASS)}


def test_label_command_refuses_malformed_gameinfo(fo, mined_soccer, tmp_path: Path) -> None:
    name, video = mined_soccer
    gt = write_soccer_gt(tmp_path / "SEQ", "[Sequence]\ntrackletID_1= referee;main\ntrackletID_two= ball;1\n")
    result = runner.invoke(app, ["label", "--from-mot", str(gt), "--video", str(video), "--dataset", name])
    assert result.exit_code == 2, result.output
    assert "gameinfo.ini:3: expected trackletID_<id>= <role>;<jersey>, got 'trackletID_two= ball;1'" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1
    assert untouched(fo.load_dataset(name))


def test_gameinfo_ball_needs_a_dataset_with_that_class(fo, dataset_name: str, tmp_path: Path, scene_video: Path) -> None:
    push_run(mine_run(scene_video, tmp_path / "runs", names={0: PERSON_CLASS}), dataset_name)  # `--classes person`
    gt = write_soccer_gt(tmp_path / "SEQ")
    with pytest.raises(DatasetError, match=r"class 'sports ball' of the ground truth \(gameinfo.ini roles: ball=sports "
                       r"ball, others=person\) is not a class of dataset .* \(person\); mine into a dataset"):
        label_from_mot(dataset_name, gt, scene_video)
    assert untouched(fo.load_dataset(dataset_name))


@pytest.mark.shared
@pytest.mark.skipif(not (MOT / "SNMOT-116").exists(), reason="../shared absent")
def test_real_soccer_rows_are_persons_and_the_ball() -> None:
    """SNMOT-116 as `vidal label` names it: its gameinfo.ini is found beside gt/, track 20 is the ball."""
    gt_path = MOT / "SNMOT-116" / "gt" / "gt.txt"
    gt, roles = read_gt(gt_path), resolve_roles(gt_path, None)
    assert roles is not None and roles[20] == "ball" and len(roles) == 27
    labels = row_labels(gt, resolve_classes(gt_path, None), roles)
    assert set(labels.tolist()) == {PERSON_CLASS, BALL_CLASS}
    assert np.unique(gt.track_id[labels == BALL_CLASS]).tolist() == [20]
    assert (labels[gt.track_id == 20] == BALL_CLASS).all() and (labels[gt.track_id != 20] == PERSON_CLASS).all()
    assert resolve_roles(gt_path, REPO / "sample_videos" / "crossing" / "classes.txt") is None  # --classes wins
    info = open_source(MOT / "SNMOT-116" / "SNMOT-116.mp4").info
    check_seqinfo(gt_path, info)
    check_fits(gt, info, gt_path)
