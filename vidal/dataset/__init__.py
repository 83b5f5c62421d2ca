"""The FiftyOne adapter: push mined frames, report, export and review.

The only importer of ``fiftyone``; every submodule imports it lazily through
:func:`vidal.dataset.connection.connect`, so ``import vidal.dataset`` is cheap.
"""

from __future__ import annotations

from vidal.dataset.push import PushReport, preflight, push_run

__all__ = ["PushReport", "preflight", "push_run"]
