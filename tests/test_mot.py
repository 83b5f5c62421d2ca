"""vidal.mot: SoccerNet ``gameinfo.ini`` roles and the class names they give."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from vidal.errors import InputError
from vidal.mot import BALL_CLASS, PERSON_CLASS, gameinfo_classes, read_gameinfo, read_gt

from conftest import SHARED

# The head of SNMOT-116's gameinfo.ini, as SoccerNet writes it (a space after "=").
GAMEINFO = """[Sequence]
name=SNMOT-116
gameID=7
actionClass=Corner
gameTimeStart=1 - 16:09
num_tracklets=4
trackletID_1= player team left;4
trackletID_2= referee;main
trackletID_3= ball;1
trackletID_4= goalkeepers team right;X
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gameinfo.ini"
    path.write_text(text)
    return path


def test_read_gameinfo(tmp_path: Path) -> None:
    roles = read_gameinfo(write(tmp_path, GAMEINFO))
    assert roles == {1: "player team left", 2: "referee", 3: "ball", 4: "goalkeepers team right"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[Sequence]\ntrackletID_7=ball\n", {7: "ball"}),  # no jersey, no count
        ("[Sequence]\n\n  TRACKLETID_2 =  Ball ; 1  \n# trackletID_x= comment\n", {2: "Ball"}),
        ("[Sequence]\ntrackletID_1= other;\nnum_tracklets = 1\n", {1: "other"}),
    ],
)
def test_read_gameinfo_variants(tmp_path: Path, text: str, expected: dict[int, str]) -> None:
    assert read_gameinfo(write(tmp_path, text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[Sequence]\nname=x\n", "names no track: expected trackletID_<id>= <role>;<jersey> lines"),
        ("", "names no track"),
        ("[Sequence]\ntrackletID_1= ball;1\ntrackletID_x= referee;main\n", "gameinfo.ini:3: expected trackletID_<id>"),
        ("[Sequence]\ntrackletID_1 ball;1\n", "gameinfo.ini:2: expected trackletID_<id>"),
        ("[Sequence]\ntrackletID_1= ;1\n", "gameinfo.ini:2: expected trackletID_<id>= <role>;<jersey>, got 'trackletID_1= ;1'"),
        ("[Sequence]\ntrackletID_-1= ball;1\n", "gameinfo.ini:2: expected"),
        ("trackletID_1= ball;1\ntrackletID_2= referee\ntrackletID_1= referee\n", "gameinfo.ini:3: track 1 named again (first at line 1)"),
        ("[Sequence]\nnum_tracklets=3\ntrackletID_1= ball;1\ntrackletID_2= referee\n", "gameinfo.ini:2: num_tracklets=3 but 2 tracks"),
        ("[Sequence]\nnum_tracklets=two\ntrackletID_1= ball;1\n", "gameinfo.ini:2: num_tracklets=two but 1 tracks"),
    ],
)
def test_malformed_gameinfo_is_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_gameinfo(write(tmp_path, text))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_or_unreadable_gameinfo(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="gameinfo file not found"):
        read_gameinfo(tmp_path / "gameinfo.ini")
    (tmp_path / "gameinfo.ini").write_bytes(b"trackletID_1= \xff\xfe;1\n")
    with pytest.raises(InputError, match="cannot read"):
        read_gameinfo(tmp_path / "gameinfo.ini")


def test_gameinfo_classes(caplog: pytest.LogCaptureFixture) -> None:
    roles = {1: "player team left", 2: "referee", 3: "ball", 4: "goalkeepers team right", 9: "Ball"}
    track_id = np.array([1, 3, 2, 4, 3, 1], np.int64)
    with caplog.at_level(logging.WARNING, logger="vidal.mot"):
        names = gameinfo_classes(track_id, roles)  # track 9 has no rows: unused, no warning
    assert names.tolist() == [PERSON_CLASS, BALL_CLASS, PERSON_CLASS, PERSON_CLASS, BALL_CLASS, PERSON_CLASS]
    assert names.dtype == object and not caplog.records


def test_tracks_the_gameinfo_does_not_name_are_persons(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vidal.mot"):
        names = gameinfo_classes(np.array([3, 5, 7, 5]), {3: "ball", 4: "referee"})
    assert names.tolist() == [BALL_CLASS, PERSON_CLASS, PERSON_CLASS, PERSON_CLASS]
    assert [r.getMessage() for r in caplog.records] == [
        "2 ground-truth tracks have no role in the gameinfo (ids 5, 7): labelled 'person'"
    ]


SOCCER = SHARED / "data" / "mot"


@pytest.mark.shared
@pytest.mark.skipif(not (SOCCER / "SNMOT-116").exists(), reason="../shared absent")
@pytest.mark.parametrize(("sequence", "ball"), [("SNMOT-116", 20), ("SNMOT-060", 18)])
def test_real_soccer_ground_truth_has_two_classes(sequence: str, ball: int) -> None:
    """Every track of SoccerNet's gt is named; the ball track alone is a sports ball."""
    folder = SOCCER / sequence
    gt, roles = read_gt(folder / "gt" / "gt.txt"), read_gameinfo(folder / "gameinfo.ini")
    assert set(np.unique(gt.track_id).tolist()) == set(roles)
    names = gameinfo_classes(gt.track_id, roles)
    assert set(names.tolist()) == {PERSON_CLASS, BALL_CLASS}
    assert np.unique(gt.track_id[names == BALL_CLASS]).tolist() == [ball]
    assert (names[gt.track_id == ball] == BALL_CLASS).all()
