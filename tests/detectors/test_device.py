"""``--device`` values: parsed as Ultralytics parses them, refused when the machine lacks the device."""

from __future__ import annotations

import pytest

from vidal.detectors.device import Machine, check_device, parse_device, probe_machine
from vidal.errors import ConfigError

CPU_ONLY = Machine()
ONE_GPU = Machine(cuda=("NVIDIA H200",))


@pytest.mark.parametrize(
    ("value", "kind", "indices", "name"),
    [
        (None, "auto", (), ""),
        ("", "auto", (), ""),
        ("cpu", "cpu", (), ""),
        ("CPU", "cpu", (), ""),
        ("cuda", "cuda", (0,), ""),
        ("cuda:1", "cuda", (1,), ""),
        ("0", "cuda", (0,), ""),
        (0, "cuda", (0,), ""),
        ("0,1", "cuda", (0, 1), ""),
        ("cuda:0,1", "cuda", (0, 1), ""),
        ("[0, 1]", "cuda", (0, 1), ""),
        ("-1", "cuda", (-1,), ""),
        ("mps", "mps", (0,), ""),
        ("mps:0", "mps", (0,), ""),
        ("npu:1", "npu", (1,), ""),
        ("xpu", "xpu", (0,), ""),
        ("intel:gpu", "intel", (), "GPU"),
        ("intel:cpu", "intel", (), "CPU"),
        ("tpu:0", "external", (), ""),
        ("vulkan", "external", (), ""),
    ],
)
def test_parse_device(value, kind: str, indices: tuple[int, ...], name: str) -> None:
    request = parse_device(value)
    assert (request.kind, request.indices, request.name) == (kind, indices, name)


@pytest.mark.parametrize("value", ["gpu", "cpu:0", "cuda:x", "intel", "intel:", "0,0", "1.5", "xpu:-1"])
def test_unknown_device_values(value: str) -> None:
    with pytest.raises(ConfigError, match="device"):
        check_device(value, machine=CPU_ONLY)


@pytest.mark.parametrize(
    ("value", "machine"),
    [
        ("cpu", CPU_ONLY), ("", CPU_ONLY), (None, CPU_ONLY), ("tpu:0", CPU_ONLY),
        ("0", ONE_GPU), ("cuda", ONE_GPU), ("cuda:0", ONE_GPU), ("-1", ONE_GPU),
        ("0,1", Machine(cuda=("A", "B"))),
        ("3", Machine(cuda=("A",), cuda_visible="3")),  # a physical id under CUDA_VISIBLE_DEVICES
        ("mps", Machine(mps=True)),
        ("xpu:1", Machine(xpu=2)),
        ("intel:gpu", Machine(openvino=("CPU", "GPU.0"))),
        ("intel:cpu", CPU_ONLY),
    ],
)
def test_devices_the_machine_has_pass(value, machine: Machine) -> None:
    check_device(value, machine=machine)


@pytest.mark.parametrize(
    ("value", "machine", "has"),
    [
        ("cuda:0", CPU_ONLY, "cpu only"),
        ("cuda", CPU_ONLY, "cpu only"),
        ("0", CPU_ONLY, "cpu only"),
        ("-1", CPU_ONLY, "cpu only"),
        ("mps", CPU_ONLY, "cpu only"),
        ("xpu", CPU_ONLY, "cpu only"),
        ("1", ONE_GPU, "cpu, cuda:0 (NVIDIA H200)"),
        ("0,1", ONE_GPU, "cpu, cuda:0 (NVIDIA H200)"),
        ("intel:gpu", CPU_ONLY, "OpenVINO sees intel:cpu"),
    ],
)
def test_devices_the_machine_lacks_are_refused(value: str, machine: Machine, has: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_device(value, machine=machine)
    message = str(caught.value)
    assert f"device {value!r}" in message and has in message and "\n" not in message


@pytest.mark.parametrize("value", ["intel:cpu", "tpu", "vulkan:0"])
def test_export_devices_cannot_train(value: str) -> None:
    with pytest.raises(ConfigError, match="cannot train"):
        check_device(value, machine=CPU_ONLY, training=True)


def test_this_machine_one_gpu_past_the_last_is_refused() -> None:
    machine = probe_machine()
    absent = len(machine.cuda)
    with pytest.raises(ConfigError) as caught:
        check_device(f"cuda:{absent}")
    assert f"this machine has {machine.describe()}" in str(caught.value)
    check_device("cpu")
