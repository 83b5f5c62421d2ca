"""Every CPU core for PyTorch while Ultralytics runs (it keeps one back).

Ultralytics' ``select_device`` sets PyTorch's thread count to ``NUM_THREADS``, the core count
minus one, to leave a core to its data-loading worker processes. vidal runs Ultralytics
without them (``workers=0`` when training; frames handed over in memory when detecting),
so the reserved core idles: on a 2-core machine that is half of it. Measured on 2 cores,
the sample detector at imgsz 320: detection 108 -> 72 ms per frame, a training epoch of
150 images 79 -> 53 s. No Ultralytics setting reaches this (it overrides
``OMP_NUM_THREADS``), hence the patch of its module constant.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def available_cores() -> int:
    """The cores this process may use: the user's ``OMP_NUM_THREADS`` if set, else its CPU affinity.

    The user's setting is the one from before Ultralytics was imported (it sets its own):
    :data:`vidal.USER_OMP_NUM_THREADS`.
    """
    from vidal import USER_OMP_NUM_THREADS

    setting = (USER_OMP_NUM_THREADS or "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def all_cores() -> Iterator[None]:
    """Within this block, Ultralytics gives PyTorch :func:`available_cores` threads on the CPU.

    The thread count Ultralytics sets stays after the block (PyTorch's setting is global);
    the patched constant is restored.
    """
    import ultralytics.utils.torch_utils as torch_utils

    original = torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = available_cores()
    try:
        yield
    finally:
        torch_utils.NUM_THREADS = original
