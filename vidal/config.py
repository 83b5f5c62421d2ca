"""Typed configuration: YAML files in ``configs/`` validated into pydantic models.

Unknown keys and out-of-range values are rejected with a message naming the file and the
field. ``--set section.field=value`` overrides any field (the value is read as YAML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from vidal.errors import ConfigError

_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DetectorConfig(_Strict):
    """The detector: any model Ultralytics loads, or an OpenVINO export."""

    model: str = "yolo11n.pt"
    classes: list[str | int] | None = None
    conf: float = Field(0.1, ge=0.0, le=1.0, description="ByteTrack needs low scores: 0.1 is its floor")
    iou: float = Field(0.7, gt=0.0, le=1.0)
    imgsz: int | None = Field(None, ge=32, le=4096, description="None: the model's own size")
    device: str = "cpu"
    batch: int = Field(1, ge=1, le=256)
    half: bool | None = Field(None, description="half precision (Ultralytics backend); None: on a CUDA device only")
    max_det: int = Field(300, ge=1)
    backend: Literal["auto", "ultralytics", "openvino"] = "auto"
    # Another system's output instead of a model (vidal.detectors.imported): one input per run.
    detections: str | None = Field(None, description="MOTChallenge detections file (frame,-1,x,y,w,h,conf[,class])")
    tracks: str | None = Field(None, description="MOTChallenge tracks file (frame,id,x,y,w,h,conf[,class])")
    classes_file: str | None = Field(None, description="class names of detections/tracks, line i for class i")


class TrackerConfig(_Strict):
    """ByteTrack parameters (defaults of Ultralytics' bytetrack.yaml).

    ``track_buffer`` counts processed frames, as Ultralytics' tracker does.
    """

    track_high_thresh: float = Field(0.25, ge=0.0, le=1.0)
    track_low_thresh: float = Field(0.1, ge=0.0, le=1.0)
    new_track_thresh: float = Field(0.25, ge=0.0, le=1.0)
    track_buffer: int = Field(30, ge=1)
    match_thresh: float = Field(0.8, gt=0.0, le=1.0)
    fuse_score: bool = True
    interpolate_gaps: bool = True
    max_gap: int = Field(5, ge=0, description="longest gap (frames) interpolated when a track is found again")
    output_box: Literal["detection", "kalman"] = "kalman"
    backfill_births: bool = False


# The signals read from each box's per-class scores (the class distribution), which a --detections
# file may give; vidal's own detectors compute them only when one of these is switched on (true).
CLASS_SCORE_SIGNALS = ("class_margin", "class_entropy", "variation_ratio")
# Signals that may be left to the run (``enabled: auto``, read as None): on where the boxes
# carry what they need.
AUTO_SIGNALS = frozenset(CLASS_SCORE_SIGNALS)


class SignalConfig(_Strict):
    """One uncertainty signal: on or off (or ``auto``, for :data:`AUTO_SIGNALS`), and its weight."""

    enabled: bool | None = True
    weight: float = Field(1.0, ge=0.0, le=1.0)

    @field_validator("enabled", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value


def _default_signals() -> dict[str, SignalConfig]:
    # Crowding alone is weak evidence (most crowded objects are tracked fine): a low weight.
    return {
        "confidence": SignalConfig(),
        "association": SignalConfig(weight=0.8),
        "reactivation": SignalConfig(),
        "missed": SignalConfig(),
        "class_flip": SignalConfig(),
        "short_track": SignalConfig(),
        "crowding": SignalConfig(weight=0.3),
        "fragmentation": SignalConfig(),
        "flicker": SignalConfig(),
        "appearance": SignalConfig(),
        "class_confusion": SignalConfig(),
        # Off for vidal's own detectors: the selection was measured without them.
        "class_margin": SignalConfig(enabled=None),
        "class_entropy": SignalConfig(enabled=None),
        "variation_ratio": SignalConfig(enabled=None),
        # Off: one more inference per frame and view (vidal.detectors.committee).
        "committee": SignalConfig(enabled=False),
    }


class ScoringConfig(_Strict):
    """Which per-object signals make the frame score."""

    signals: dict[str, SignalConfig] = Field(default_factory=_default_signals)
    # Mirrored: a view that costs only the inference. The zoomed-out view costs a resize too.
    committee_views: list[Literal["flip", "scale"]] = Field(
        default_factory=lambda: ["flip"], description="test-time views of the committee signal"
    )
    # Other versions of the model, each run on every frame (its inference per frame): paths, or
    # `lineage` for every model in the dataset's lineage (vidal train's fine-tunes and their base).
    committee_models: list[str] = Field(
        default_factory=list, description="other models of the committee signal: paths, or lineage"
    )

    @model_validator(mode="after")
    def _a_committee(self) -> ScoringConfig:
        committee = self.signals.get("committee")
        if committee is not None and committee.enabled and not self.committee_views and not self.committee_models:
            raise ValueError("the committee signal needs members: committee_views (flip, scale) or committee_models")
        return self

    @field_validator("signals", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A config that names some signals changes those and keeps the others' defaults.

        Without this, ``--set scoring.signals.association.enabled=false`` (or a YAML file
        listing one signal) would leave a dict of one signal: every other signal silently
        off, and the named one's default weight lost.
        """
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {name: signal.model_dump() for name, signal in _default_signals().items()}
        for name, given in value.items():
            given = given.model_dump() if isinstance(given, SignalConfig) else given
            merged[name] = {**merged.get(name, {}), **given} if isinstance(given, dict) else given
        return merged

    @field_validator("signals")
    @classmethod
    def _known(cls, value: dict[str, SignalConfig]) -> dict[str, SignalConfig]:
        from vidal.scoring import SIGNALS

        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signal(s) {', '.join(unknown)}; valid: {', '.join(sorted(SIGNALS))}")
        auto = sorted(name for name, signal in value.items() if signal.enabled is None and name not in AUTO_SIGNALS)
        if auto:
            allowed = ", ".join(sorted(AUTO_SIGNALS))
            raise ValueError(f"{', '.join(auto)}: enabled must be true or false (auto is for {allowed})")
        return value


class SelectionConfig(_Strict):
    """How many frames to pick, and how."""

    # cover: measured against the oracles on the shared real videos (tools/bench_selection.py).
    strategy: str = "cover"
    # The frame score of the events strategies (vidal, coverage): the sum of its objects'
    # uncertainty (expected mistakes; favours crowded frames), their mean, or the sum of the
    # top_k largest (vidal.scoring.object_shares).
    aggregate: Literal["sum", "mean", "topk"] = Field("sum", description="frame score from object uncertainty")
    top_k: int = Field(3, ge=1, description="objects counted by aggregate=topk")
    budget: str = "5%"
    # A rare class (the ball in soccer, bicycles in a street) holds little of any frame's score;
    # a detector learns it only from frames that show it. A tenth of the budget: 4 frames of 38.
    class_share: float = Field(
        0.1, ge=0.0, le=1.0, description="each class of the run's tracks gets this share of the budget (0: off)"
    )
    # Frames closer than 0.2 s (5 frames at 25 fps) show one moment: a walking person moves
    # under a fifth of a body height. Diversity beyond that comes from the suspect events.
    min_gap_s: float = Field(0.2, ge=0.0, description="selected frames more than this far apart")
    seed: int = 0
    # A frame a human reviewed in an earlier round is labelled already; the frames next to it
    # teach the detector the same thing again.
    skip_reviewed: bool = Field(True, description="leave out frames reviewed in the dataset and those within min_gap_s")
    # Fewer uncertain frames than the budget: the frames a human would look at next are the
    # ones that show the rest of the video, not its first seconds.
    fill: Literal["spread", "none"] = Field(
        "spread", description="frames with score 0 fill the budget spread over the uncovered time (none: stop short)"
    )
    # coreset, typiclust, density and diverse rank frames by the detector's own features (vidal.embeddings),
    # computed in the detection's pass only for them; always: for every strategy (for the dataset).
    embeddings: Literal["auto", "always"] = Field(
        "auto", description="frame embeddings: auto (for the strategies that need them) or always"
    )
    density_beta: float = Field(1.0, ge=0.0, description="density: exponent of a frame's similarity to the rest")

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> str:
        text = str(value)
        match = _BUDGET.match(text)
        if not match:
            raise ValueError(f"budget must be a frame count like 20 or a share like 5%, got {text!r}")
        number, percent = float(match.group(1)), match.group(2)
        if percent and not 0 < number <= 100:
            raise ValueError(f"a budget share must be in (0, 100]%, got {text!r}")
        if not percent and (number < 1 or number != int(number)):
            raise ValueError(f"a frame budget must be a whole number >= 1, got {text!r}")
        return text.strip()

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        from vidal.selection import STRATEGIES

        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; valid: {', '.join(sorted(STRATEGIES))}")
        return value

    def budget_frames(self, processed: int) -> int:
        """The budget as a number of frames for a run of ``processed`` frames."""
        match = _BUDGET.match(self.budget)
        assert match is not None  # validated
        number, percent = float(match.group(1)), match.group(2)
        if percent:
            return max(1, int(-(-number * processed // 100)))
        return int(number)


class InputConfig(_Strict):
    """Which frames of each input to process (1-based, inclusive)."""

    start: int = Field(1, ge=1)
    end: int | None = Field(None, ge=1)
    stride: int = Field(1, ge=1)


class OutputConfig(_Strict):
    """Where runs go."""

    out: str = "vidal-runs"
    jpeg_quality: int = Field(95, ge=1, le=100)


class ScaleConfig(_Strict):
    """How ``vidal mine --workers/--ray`` shares out its work (a run folder does not depend on it)."""

    chunk_s: float = Field(
        120.0, ge=0.0, description="a video longer than this many seconds is detected in chunks of this length, "
        "each a task of its own (vidal.chunks); 0: never split"
    )


class DatasetConfig(_Strict):
    """The FiftyOne dataset that ``vidal mine`` pushes its selection into."""

    name: str = Field("vidal", min_length=1, max_length=100)
    push: bool = True
    media_dir: str | None = Field(
        None, description="folder for the mined frames' images; None: ~/.vidal/media (or $VIDAL_HOME/media)"
    )
    draft_conf: float = Field(
        0.5, ge=0.0, le=1.0, description="tracked detections from this score on make the ground_truth draft"
    )


# The signals that mean "this box may not be the same object as the track's box before it":
# propagation does not carry a reviewed label across them.
IDENTITY_BREAKS = ("association", "reactivation", "fragmentation", "flicker", "class_flip", "class_confusion",
                   "missed", "appearance")


class PropagationConfig(_Strict):
    """How reviewed frames label the frames their tracks cover (``vidal propagate``)."""

    match_iou: float = Field(0.5, gt=0.0, le=1.0, description="a human box and a track box are one object at this IoU")
    loose_iou: float | None = Field(
        0.3, gt=0.0, le=1.0, description="then boxes left on both sides match from this IoU (a badly drawn box); null: off"
    )
    breaks: list[str] = Field(default_factory=lambda: list(IDENTITY_BREAKS),
                              description="signals a reviewed label is not carried across")
    min_track_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="a track stretch no reviewed frame confirms is kept from this mean score"
    )
    follow_frames: int = Field(5, ge=0, description="a box a human added is followed this many frames each way at most")
    follow_max_error: float = Field(
        0.05, gt=0.0, description="stop following when the forward-backward flow error exceeds this share of the box"
    )
    interpolate_iou: float | None = Field(
        0.5, gt=0.0, le=1.0,
        description="boxes added on two neighbouring reviewed frames that the flow did not join are one object from "
                    "this IoU, interpolated between them; null: off",
    )
    duplicate_iou: float = Field(0.6, gt=0.0, le=1.0, description="of two labels overlapping this much, the surer stays")
    contained_share: float | None = Field(
        0.8, gt=0.0, le=1.0,
        description="a label no reviewed frame confirms that lies this share inside a confirmed label of its class "
                    "(a part of that object) is dropped; null: off",
    )
    stride: int = Field(1, ge=1, description="every n-th frame becomes a propagated sample")

    @field_validator("breaks")
    @classmethod
    def _breaks(cls, value: list[str]) -> list[str]:
        from vidal.scoring import SIGNALS

        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"unknown signals {', '.join(unknown)}; valid: {', '.join(sorted(SIGNALS))}")
        return value


class VidalConfig(_Strict):
    """The whole configuration of a run."""

    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    input: InputConfig = Field(default_factory=InputConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    propagation: PropagationConfig = Field(default_factory=PropagationConfig)
    scale: ScaleConfig = Field(default_factory=ScaleConfig)


def _format_error(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{source}: {field}: {message}{more}"


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``section.field=value`` into a key path and a YAML-parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects key=value (e.g. tracker.match_thresh=0.7), got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {text}: value is not valid YAML ({error})") from error
    return key.strip().split("."), value


def _set(data: dict[str, Any], keys: list[str], value: Any, what: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{what}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def load_config(
    path: str | Path | VidalConfig | None = None,
    overrides: list[str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> VidalConfig:
    """Read a YAML config (or the defaults), apply overrides and validate.

    Args:
        path: A YAML file, or a configuration to start from; ``None`` for the defaults.
        overrides: ``section.field=value`` strings (``--set``), values read as YAML, applied in order.
        options: Typed values by ``section.field`` (the CLI's options, the API's keyword
            arguments), applied last; ``None`` values are skipped.

    Raises:
        ConfigError: The file is unreadable or invalid, or an override names no field.
    """
    data: dict[str, Any] = {}
    source = "defaults"
    if isinstance(path, VidalConfig):
        data, source = path.model_dump(mode="json"), "the configuration given"
    elif path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as error:
            raise ConfigError(f"cannot read config {path}: {error.strerror}") from error
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from error
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        data = loaded or {}
    for text in overrides or []:
        keys, value = parse_override(text)
        _set(data, keys, value, f"--set {text}")
        source = f"{source} + --set" if "--set" not in source else source
    for key, value in (options or {}).items():
        if value is not None:
            _set(data, key.split("."), value, key)
    try:
        return VidalConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_error(error, source)) from error
