"""A bounded background prefetch for iterators whose items cost I/O or native work.

OpenCV decoding and OpenVINO inference release the GIL, so a thread is enough to overlap
them with the Python work of tracking and scoring.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
# Frames a stream decodes (and prepares) ahead of its consumer: 8 frames of 1080p BGR are 50 MB.
PREFETCH_FRAMES = 8

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(items: Iterable[T], size: int = PREFETCH_FRAMES) -> Iterator[T]:
    """Iterate ``items`` in a worker thread, keeping at most ``size`` items ready.

    Memory stays bounded by ``size`` items whatever the length of ``items``. An exception
    raised by ``items`` is re-raised in the consumer at the point where it happened. Closing
    the returned generator early stops the worker.

    Args:
        items: The iterable to consume in the background.
        size: How many items may wait in the queue.

    Yields:
        The items of ``items``, in order.
    """
    if size < 1:
        raise ValueError(f"prefetch size must be >= 1, got {size}")
    buffer: queue.Queue[object] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as error:  # noqa: BLE001 - re-raised in the consumer
            put(_Failure(error))
            return
        put(_DONE)

    worker = threading.Thread(target=work, name="vidal-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)


class UntilError(Generic[T]):
    """Iterate ``items`` until they raise, and hold the exception for :meth:`reraise`.

    A consumer with items still in hand (inference requests in flight, a partial batch)
    finishes them before the error surfaces: a decoding failure then loses no frame that
    was decoded. Only :class:`Exception` is held; an interrupt propagates at once.

    Args:
        items: The iterable to consume.
    """

    def __init__(self, items: Iterable[T]) -> None:
        self._items = iter(items)
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = next(self._items)
            except StopIteration:
                return
            except Exception as error:  # noqa: BLE001 - re-raised by reraise()
                self.error = error
                return
            yield item

    def reraise(self) -> None:
        """Raise the exception that ended the iteration, if any."""
        if self.error is not None:
            raise self.error
