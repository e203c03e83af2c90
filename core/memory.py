"""Python's cycle collector settings for the long-running processes: receiver and consumers.

Set once, at start-up, after what lives for the whole run (modules, classes, clients, the app)
is allocated. See docs/performance.md ("Garbage collection") for the figures.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Containers allocated (net) between young collections; Python's default is 700."""


def settle_gc() -> None:
    """Move what start-up allocated out of the collector's way, and collect less often.

    Frozen objects are skipped by full collections, so a full collection scans only what
    requests or batches left behind. The young generation's threshold is raised: a process
    under load holds thousands of short-lived objects in flight, which reference counting frees
    anyway; older generations keep their thresholds.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
