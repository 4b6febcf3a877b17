"""Helpers for building many small objects at once (100,000 gateways and more).

Called by the repository loader, the inventory reader and the planner.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Loading and planning allocate millions of acyclic objects (nodes, dicts,
    models); the collector's repeated passes over the growing heap cost ~40%
    of the run (measured: loading 100,000 gateways 5.2 s -> 3.3 s).  Reference
    counting still frees everything; the collector resumes afterwards.  Nests.
    A cycle among the frozen objects would not be collected; the loaded
    models hold none.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # What survived is long-lived (the loaded repo, the plan): move it out of
            # the collector's generations so the next collection does not scan it
            # (measured 0.5 s per pass at 100,000 gateways).  Refcounting still frees it.
            gc.freeze()
            gc.enable()
