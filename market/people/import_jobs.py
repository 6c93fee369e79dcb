"""Roster imports run in the background for the admin's pages, with their progress.

Checking a roster of tens of thousands of rows takes about as long as importing it
(the dry run does all the work, then rolls it back), longer than a page should hang.
So an upload starts a job: it reads the file, checks every row, does the dry run and
stops. Only a clean dry run can be confirmed; the confirmation imports the same parsed
roster, all or nothing, through ``roster.import_roster``, whose progress callback (people
written, then wallets opened) fills in the job. The page asks for the job's state.

Jobs live in this process's memory, like the in-process login limiter: right for one
worker (``market serve``'s default). With several workers, a job is only known to the
worker that received the upload, so a poll that reaches another one finds nothing.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import Ledger, LedgerError
from market.errors import Conflict, MarketError, NotFound
from market.people import roster
from market.people.roster import BadRow, ImportSummary, Roster, RosterRejected

log = logging.getLogger(__name__)

#: A job is forgotten this long after its last change.
KEEP_SECONDS = 3600
#: At most this many jobs are remembered; the oldest go first.
MAX_JOBS = 50

CHECKING, BAD, READY, IMPORTING, DONE, FAILED = (
    "checking", "bad", "ready", "importing", "done", "failed",
)
RUNNING = frozenset({CHECKING, IMPORTING})


@dataclass
class ImportJob:
    """One uploaded roster, from its check to its import."""

    id: str
    community_id: int
    owner_id: int
    filename: str
    state: str = CHECKING
    stage: str = "reading"
    """"reading", "structure", "people" or "wallets": what is being done now."""
    done: int = 0
    total: int = 0
    summary: ImportSummary | None = None
    """The dry run's counts, then the import's."""
    bad: list[BadRow] = field(default_factory=list)
    reason: str | None = None
    """Why the file as a whole was refused (a ``market.messages`` reason) ..."""
    params: dict[str, Any] = field(default_factory=dict)
    """... and that message's parameters."""
    changed_at: float = field(default_factory=time.monotonic)
    roster: Roster | None = None
    task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def percent(self) -> int | None:
        """How far the current stage is, or None while there is nothing to count yet."""
        if self.total <= 0 or self.stage in ("reading", "structure"):
            return None
        return min(100, self.done * 100 // self.total)

    def progress(self, stage: str, done: int, total: int) -> None:
        """``roster.Progress``: called by the importer as it goes."""
        self.stage, self.done, self.total = stage, done, total
        self.changed_at = time.monotonic()

    def status(self) -> dict[str, Any]:
        """What the page's script polls."""
        return {
            "state": self.state, "stage": self.stage, "done": self.done, "total": self.total,
            "percent": self.percent,
        }


_jobs: dict[str, ImportJob] = {}


def _prune() -> None:
    now = time.monotonic()
    for job_id, job in list(_jobs.items()):
        if not job.running and now - job.changed_at > KEEP_SECONDS:
            del _jobs[job_id]
    finished = sorted((j for j in _jobs.values() if not j.running), key=lambda j: j.changed_at)
    while len(_jobs) >= MAX_JOBS and finished:
        del _jobs[finished.pop(0).id]


def get(community_id: int, job_id: str) -> ImportJob:
    """The job, if it is of this community (another community's is simply not found)."""
    job = _jobs.get(job_id)
    if job is None or job.community_id != community_id:
        raise NotFound()
    return job


def _start(job: ImportJob, work: Callable[[], Any]) -> None:
    async def run() -> None:
        try:
            await work()
        except RosterRejected as error:
            job.state, job.bad = BAD, list(error.bad)
        except (MarketError, LedgerError) as error:
            job.state, job.reason = FAILED, error.reason
            job.params = dict(getattr(error, "params", {}))
        except Exception:
            log.exception("roster import %s failed", job.id)
            job.state, job.reason = FAILED, "internal"
        finally:
            job.changed_at = time.monotonic()
            if job.state != READY:
                job.roster = None  # a finished job keeps its counts, not its residents

    job.task = asyncio.create_task(run(), name=f"roster-import-{job.id}")


def check(
    community_id: int, owner_id: int, data: bytes, filename: str, *, ledger: Ledger
) -> ImportJob:
    """Start checking an uploaded roster: read it, check its rows, dry-run the import."""
    _prune()
    job = ImportJob(id=secrets.token_urlsafe(12), community_id=community_id, owner_id=owner_id,
                    filename=filename)
    _jobs[job.id] = job

    async def work() -> None:
        # Parsing a spreadsheet is CPU work: off the event loop.
        parsed = await asyncio.to_thread(roster.read_roster, data, filename)
        if parsed.bad:
            raise RosterRejected(parsed.bad)
        job.progress("structure", 0, len(parsed.rows))
        job.summary = await roster.import_roster(
            community_id, parsed, ledger=ledger, dry_run=True, progress=job.progress
        )
        job.roster, job.state = parsed, READY

    _start(job, work)
    return job


def confirm(job: ImportJob, *, ledger: Ledger) -> None:
    """Import a checked roster. A second confirmation (a double tap) changes nothing."""
    if job.state in (IMPORTING, DONE):
        return
    if job.state != READY or job.roster is None:
        raise Conflict("conflict")
    parsed = job.roster
    # No await between the check and this: on one event loop, nobody else gets in between.
    job.state = IMPORTING
    job.progress("structure", 0, len(parsed.rows))

    async def work() -> None:
        job.summary = await roster.import_roster(
            job.community_id, parsed, ledger=ledger, progress=job.progress
        )
        job.state = DONE
        log.info("roster import %s by person %s: %s created, %s updated", job.id, job.owner_id,
                 job.summary.created, job.summary.updated)

    _start(job, work)


async def settle(job: ImportJob, seconds: float | None = None) -> None:
    """Wait until the job's current step ends, or ``seconds`` pass (None: however long)."""
    if job.task is not None and not job.task.done():
        # asyncio.wait never cancels what it waits for: the job runs on after a timeout.
        await asyncio.wait({job.task}, timeout=seconds)
