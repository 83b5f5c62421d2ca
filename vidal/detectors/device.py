"""``--device`` values, checked against what the machine has before any model is loaded.

vidal takes Ultralytics' device strings: ``cpu``; CUDA GPUs as ``cuda``, ``cuda:N``, ``N``
or ``N,M`` (``-1``: an idle one); ``mps``; ``npu[:N]`` and ``xpu[:N]``; ``intel:NAME``, an
OpenVINO device (``intel:cpu``, ``intel:gpu``) that runs OpenVINO exports only; and
``tpu``/``vulkan``, which name the runtime of an Edge TPU or NCNN export and are left to it.
Ultralytics checks a device only once it predicts or trains, with a many-line error, and
for ``mps`` and ``intel:*`` falls back to another device without saying so; vidal refuses
a device the machine lacks up front, in one line that says what the machine has.

This is the only module that imports torch (and only for a value that needs it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from vidal.errors import ConfigError

FORMS = "cpu, cuda, cuda:N, N or N,M (CUDA GPUs), mps, npu[:N], xpu[:N], intel:cpu|gpu|npu (OpenVINO)"
# Device kinds that can train a model (the others only run exports).
TRAINING_KINDS = frozenset({"auto", "cpu", "cuda", "mps", "npu", "xpu"})


@dataclass(frozen=True)
class DeviceRequest:
    """A parsed ``--device`` value.

    Attributes:
        text: The value as given.
        kind: ``auto``, ``cpu``, ``cuda``, ``mps``, ``npu``, ``xpu``, ``intel`` or
            ``external`` (``tpu``/``vulkan``: checked by the export's runtime).
        indices: Device indices (``-1``: an idle CUDA GPU); empty where none apply.
        name: The OpenVINO device of an ``intel`` request (``CPU``, ``GPU``, ...).
    """

    text: str
    kind: str
    indices: tuple[int, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Machine:
    """The devices a machine has, as PyTorch and OpenVINO see them.

    Attributes:
        cuda: Names of the CUDA GPUs, by PyTorch index.
        mps: Whether Apple's Metal backend is available.
        npu: Number of Ascend NPUs.
        xpu: Number of Intel XPUs (PyTorch).
        openvino: OpenVINO's device names (``CPU``, ``GPU.0``, ...).
        cuda_visible: ``CUDA_VISIBLE_DEVICES``, if set.
    """

    cuda: tuple[str, ...] = ()
    mps: bool = False
    npu: int = 0
    xpu: int = 0
    openvino: tuple[str, ...] = field(default=("CPU",))
    cuda_visible: str | None = None

    def describe(self) -> str:
        """What the machine has, for an error message: ``cpu, cuda:0 (NVIDIA H200)``."""
        parts = ["cpu"] + [f"cuda:{i} ({name})" for i, name in enumerate(self.cuda)]
        if self.mps:
            parts.append("mps")
        parts += [f"npu:{i}" for i in range(self.npu)] + [f"xpu:{i}" for i in range(self.xpu)]
        extra = [f"intel:{d.lower()}" for d in self.openvino if d != "CPU"]
        if len(parts) == 1 and not extra:
            return "cpu only (PyTorch sees no GPU)"
        return ", ".join(parts + extra)


def parse_device(device: str | int | None) -> DeviceRequest:
    """Parse a device value the way Ultralytics does.

    Args:
        device: The value; ``None`` or ``""`` for Ultralytics' choice (the first GPU, else
            the CPU).

    Raises:
        ConfigError: The value is no device form Ultralytics knows.
    """
    text = "" if device is None else str(device)
    value = text.strip().lower()
    for noise in ("(", ")", "[", "]", "'", " "):
        value = value.replace(noise, "")
    if value == "":
        return DeviceRequest(text, "auto")
    if value == "cpu":
        return DeviceRequest(text, "cpu")
    if value in ("mps", "mps:0"):
        return DeviceRequest(text, "mps", (0,))
    if value.startswith(("tpu", "vulkan")):
        return DeviceRequest(text, "external")
    if value.startswith("intel"):
        _, _, name = value.partition(":")
        if name.isalpha():
            return DeviceRequest(text, "intel", name=name.upper())
        raise ConfigError(f"unknown device {text!r}: an OpenVINO device is intel:cpu, intel:gpu, intel:npu, ...")
    for kind in ("npu", "xpu"):
        if value.startswith(kind):
            rest = value[len(kind):].lstrip(":")
            indices = _indices(rest or "0", text)
            if min(indices) < 0:
                raise ConfigError(f"unknown device {text!r}: use {kind} or {kind}:N")
            return DeviceRequest(text, kind, indices)
    value = value.replace("cuda:", "")
    if value == "cuda":
        value = "0"
    return DeviceRequest(text, "cuda", _indices(value, text))


def _indices(value: str, text: str) -> tuple[int, ...]:
    parts = [part for part in value.split(",") if part]
    if not parts or not all(part.isdigit() or part == "-1" for part in parts):
        raise ConfigError(f"unknown device {text!r}: use {FORMS}")
    indices = tuple(int(part) for part in parts)
    named = [i for i in indices if i >= 0]
    if len(set(named)) != len(named):
        raise ConfigError(f"device {text!r} names a device twice")
    return indices


def probe_machine(*, torch: bool = True, openvino: bool = False) -> Machine:
    """The devices this machine has.

    Args:
        torch: Ask PyTorch (imports it).
        openvino: Ask OpenVINO.
    """
    cuda: tuple[str, ...] = ()
    mps = False
    npu = xpu = 0
    if torch:
        import torch as pt

        if pt.cuda.is_available():
            cuda = tuple(pt.cuda.get_device_name(i) for i in range(pt.cuda.device_count()))
        mps = bool(getattr(pt.backends, "mps", None)) and pt.backends.mps.is_available()
        if hasattr(pt, "xpu") and pt.xpu.is_available():
            xpu = pt.xpu.device_count()
        try:
            import torch_npu  # noqa: F401 - registers torch.npu
        except ImportError:
            pass
        else:  # pragma: no cover - Ascend machines only
            if pt.npu.is_available():
                npu = pt.npu.device_count()
    devices: tuple[str, ...] = ("CPU",)
    if openvino:
        import openvino as ov

        devices = tuple(ov.Core().available_devices)
    return Machine(cuda, mps, npu, xpu, devices, os.environ.get("CUDA_VISIBLE_DEVICES"))


def check_device(device: str | int | None, *, machine: Machine | None = None, training: bool = False) -> DeviceRequest:
    """Refuse a device value that is malformed or names a device this machine lacks.

    Args:
        device: The ``--device`` value; ``None`` or ``""`` for Ultralytics' choice.
        machine: What the machine has; ``None`` to probe it (only where the value needs it:
            ``cpu`` and the default import nothing).
        training: The device is to train a model (an OpenVINO or export device cannot).

    Returns:
        The parsed request.

    Raises:
        ConfigError: The value is unknown, cannot train, or the device is absent; the
            message names the value and what the machine has.
    """
    try:
        request = parse_device(device)
    except ConfigError as error:
        has = (machine or probe_machine(openvino=True)).describe()
        raise ConfigError(f"{error}; this machine has {has}") from None
    if training and request.kind not in TRAINING_KINDS:
        raise ConfigError(
            f"device {request.text!r} cannot train a model: use cpu, a CUDA GPU (0, cuda:0, ...), mps, npu or xpu"
        )
    if request.kind in ("auto", "cpu", "external"):
        return request
    if machine is None:
        machine = probe_machine(torch=request.kind != "intel", openvino=request.kind == "intel")
    if request.kind == "intel":
        if not any(d == request.name or d.startswith(f"{request.name}.") for d in machine.openvino):
            found = ", ".join(f"intel:{d.lower()}" for d in machine.openvino)
            raise ConfigError(f"device {request.text!r} is not available: OpenVINO sees {found}")
        return request
    if request.kind == "mps":
        available = machine.mps
    elif request.kind in ("npu", "xpu"):
        count = machine.npu if request.kind == "npu" else machine.xpu
        available = all(i < count for i in request.indices)
    else:
        available = all(i < len(machine.cuda) or i in _visible_ids(machine) for i in request.indices if i >= 0)
        available = available and len(machine.cuda) > 0
    if not available:
        raise ConfigError(f"device {request.text!r} is not available: this machine has {machine.describe()}")
    return request


def _visible_ids(machine: Machine) -> set[int]:
    """Physical GPU ids under ``CUDA_VISIBLE_DEVICES``, which Ultralytics also accepts."""
    ids = [part.strip() for part in (machine.cuda_visible or "").split(",") if part.strip()]
    return {int(part) for part in ids[: len(machine.cuda)] if part.isdigit()}


__all__ = ["DeviceRequest", "Machine", "check_device", "parse_device", "probe_machine"]
