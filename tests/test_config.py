from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vidal.config import VidalConfig, load_config
from vidal.errors import ConfigError

from conftest import REPO


def test_defaults() -> None:
    config = load_config()
    assert config.tracker.track_high_thresh == 0.25
    assert config.selection.budget_frames(179) == 9


def test_shipped_default_config_matches_the_models() -> None:
    shipped = yaml.safe_load((REPO / "configs" / "default.yaml").read_text())
    assert VidalConfig.model_validate(shipped) == VidalConfig()


@pytest.mark.parametrize(
    ("budget", "frames", "expected"),
    [("5%", 179, 9), ("5%", 100, 5), ("20", 179, 20), ("100%", 7, 7), ("0.5%", 10, 1)],
)
def test_budget(budget: str, frames: int, expected: int) -> None:
    assert load_config(overrides=[f"selection.budget={budget}"]).selection.budget_frames(frames) == expected


@pytest.mark.parametrize("budget", ["0", "-3", "5.5", "150%", "lots"])
def test_bad_budget(budget: str) -> None:
    with pytest.raises(ConfigError, match="selection.budget"):
        load_config(overrides=[f"selection.budget={budget}"])


def test_override_and_type_validation() -> None:
    config = load_config(overrides=["tracker.match_thresh=0.7", "detector.classes=[person, 2]"])
    assert config.tracker.match_thresh == 0.7
    assert config.detector.classes == ["person", 2]
    with pytest.raises(ConfigError, match="tracker.match_thresh"):
        load_config(overrides=["tracker.match_thresh=2"])


def test_unknown_key_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("tracker:\n  match_tresh: 0.7\n")
    with pytest.raises(ConfigError, match=r"x.yaml: tracker.match_tresh: Extra inputs"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "field"),
    [("input.stride=0", "input.stride"), ("scoring.signals.nope.weight=1", "scoring.signals"),
     ("selection.strategy=best", "selection.strategy"), ("detector.backend=tensorrt", "detector.backend"),
     ("selection.aggregate=max", "selection.aggregate"), ("selection.top_k=0", "selection.top_k")],
)
def test_invalid_fields(override: str, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_config(overrides=[override])


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="key=value"):
        load_config(overrides=["tracker.match_thresh"])


def test_overriding_one_signal_keeps_the_others_and_its_weight() -> None:
    config = load_config(overrides=["scoring.signals.association.enabled=false"])
    signals = config.scoring.signals
    assert not signals["association"].enabled and signals["association"].weight == 0.8
    auto = ("class_margin", "class_entropy", "variation_ratio")
    assert all(s.enabled for name, s in signals.items() if name not in ("association", *auto, "committee"))
    assert all(signals[name].enabled is None for name in auto)  # auto: on where the boxes carry per-class scores
    assert signals["committee"].enabled is False  # one more inference per view: asked for
    assert signals["crowding"].weight == 0.3 and len(signals) == 15


@pytest.mark.parametrize("name", ["class_margin", "class_entropy", "variation_ratio"])
@pytest.mark.parametrize(("value", "expected"), [("auto", None), ("true", True), ("false", False)])
def test_class_signal_switch(name: str, value: str, expected: bool | None) -> None:
    assert load_config(overrides=[f"scoring.signals.{name}.enabled={value}"]).scoring.signals[
        name].enabled is expected


def test_auto_only_for_signals_that_can_be_left_to_the_run() -> None:
    with pytest.raises(ConfigError, match="scoring.signals: crowding: enabled must be true or false"):
        load_config(overrides=["scoring.signals.crowding.enabled=auto"])
