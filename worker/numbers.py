"""Number jobs: release a replaced number when its 30 days are over.

`control.jobs.schedule_number_cancellation` enqueues `run_number_cancellation` at the number's
cancel_at (rq's scheduler, in `switchboard worker`). The job releases the number (back to its
provider), which writes the audit log and records the config change: after the commit the
automatic apply redeploys the tenant's nodes without it. A replacement cancelled meanwhile
makes the job do nothing; a job that runs early (clock skew) schedules itself again.
"""

from __future__ import annotations

import logging

from control import jobs
from control.db import unit_of_work, utcnow
from control.services import number_lifecycle

log = logging.getLogger(__name__)


def run_number_cancellation(number_id: int) -> str:
    """Returns what happened: released, not due (scheduled again) or nothing to do."""
    now = utcnow()
    with unit_of_work() as session:
        number = number_lifecycle.finish_cancellation(session, number_id, now)
        e164 = number.e164 if number is not None else None
        pending = number_lifecycle.pending_cancellation(session, number_id)
    if e164 is not None:
        log.info("number %s released at the end of its cancellation period", e164)
        return "released"
    if pending is not None:
        jobs.schedule_number_cancellation(number_id, pending)
        return "not due"
    return "nothing to do"
