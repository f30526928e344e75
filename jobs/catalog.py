"""Every job kind of riskops, registered from the package that owns it.

Importing this module fills `riskops.jobs.registry.JOBS`. Only the composition roots import it
(the web app, the arq worker, the CLI, the test session): services enqueue jobs by name through
`riskops.jobs.runner` and never import a job module, so no domain depends on another's jobs and
no import cycle runs through the runner.
"""

from __future__ import annotations

from riskops.jobs import audit_jobs
from riskops.jobs.registry import JOBS
from riskops.server.assistant import jobs as assistant_jobs
from riskops.server.credit import jobs
from riskops.server.notify import delivery
from riskops.server.operations import retention_jobs
from riskops.server.response import jobs as response_jobs
from riskops.server.views import jobs as view_jobs
from riskops.server.work import jobs as work_jobs

MODULES = (
    audit_jobs,
    jobs,
    delivery,
    view_jobs,
    work_jobs,
    assistant_jobs,
    retention_jobs,
    response_jobs,
)


def kinds() -> list[str]:
    """The registered job kinds, sorted."""
    return sorted(JOBS)
