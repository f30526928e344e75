"""What a long-running riskops process does once it has started."""

from __future__ import annotations

import gc


def settle() -> None:
    """Once a process has loaded what it serves with (modules, models, litellm in the worker),
    move every object it holds to the collector's permanent generation (`gc.freeze`), so that
    the collector's full passes stop walking them: a job that allocates a lot at once (the
    escalation pass over 10,000 items) otherwise pauses about 0.1 s in one of them
    (docs/PERFORMANCE.md "Escalation"). Objects made later are collected as usual. Called at
    the start of the arq worker and of the web process."""
    gc.collect()
    gc.freeze()
