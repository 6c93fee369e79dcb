"""Roster imports run in the background for the admin's pages, with their progress.

Checking a roster of tens of thousands of rows takes about as long as importing it
(the dry run does all the work, then rolls it back), longer than a page should hang.
So an upload starts a job: it reads the file, checks every row, does the dry run and
stops. Only a clean dry run can be confirmed; the confirmation imports the same roster,
all or nothing, through ``roster.import_roster``, whose progress callback (people
written, then wallets opened) fills in the job. The page asks for the job's state.

A job is a row of ``roster_import``, so any worker or host answers its page and its
poll, and the confirmation may reach another worker than the upload: the uploaded file
stays in the row until the import is over, and the worker that receives the confirmation
reads it back and imports it. (Kept in one process's memory, 25 of 60 polls and 29 of 60
job pages answered 404 with two workers.) The work runs in the worker that received the
request and writes its progress to the row every ``PROGRESS_EVERY`` seconds, not on every
row; those writes are also its heartbeat. A running job not heard of for ``STALE_AFTER``
is taken for dead and shown as interrupted, and can be started again from its file.
Every change of state is one guarded UPDATE (from "ready" to "importing", say), so a
double confirmation imports once, even when the two taps reach two workers.

While a job runs, the worker running it answers from its own copy, a second fresher than
the row; everyone else reads the row.
"""

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ledger import Ledger, LedgerError
from market.background import holder_name
from market.db import fetch
from market.errors import Conflict, MarketError, NotFound
from market.people import roster
from market.people.roster import BadRow, RosterRejected
from market.people.schemas import ImportSummary

log = logging.getLogger(__name__)

#: A job is forgotten this long after its last change.
KEEP_SECONDS = 3600
#: At most this many jobs of a community are kept; the oldest finished ones go first.
MAX_JOBS = 50
#: The worker doing a job writes its progress this often (its heartbeat too).
PROGRESS_EVERY = 1.0
#: A running job with no progress written for this long is taken for dead. On SQLite a
#: heartbeat waits while the import's own transaction holds the one write lock: 10,000
#: rows took 3.9 s in all here, so the 50,000 rows a roster may have stay well inside.
STALE_AFTER = 90.0
#: The reason shown for a job whose worker stopped (``market.messages``).
INTERRUPTED = "import_interrupted"

CHECKING, BAD, READY, IMPORTING, DONE, FAILED = (
    "checking", "bad", "ready", "importing", "done", "failed",
)
RUNNING = frozenset({CHECKING, IMPORTING})
#: Which worker of which host runs a job: this process.
_RUNNER = holder_name()
_COLUMNS = (
    "id, community, owner, filename, state, stage, done, total, summary, bad, reason, params, "
    "resume, changed_ms"
)


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
    resume: str | None = None
    """For a job whose worker stopped: the state it can be started again in."""
    changed_ms: int = 0

    @property
    def running(self) -> bool:
        return self.state in RUNNING

    @property
    def can_restart(self) -> bool:
        return self.state == FAILED and self.resume is not None

    @property
    def percent(self) -> int | None:
        """How far the current stage is, or None while there is nothing to count yet."""
        if self.total <= 0 or self.stage in ("reading", "structure"):
            return None
        return min(100, self.done * 100 // self.total)

    def progress(self, stage: str, done: int, total: int) -> None:
        """``roster.Progress``: called by the importer as it goes (written to the row later)."""
        self.stage, self.done, self.total = stage, done, total

    def status(self) -> dict[str, Any]:
        """What the page's script polls."""
        return {
            "state": self.state, "stage": self.stage, "done": self.done, "total": self.total,
            "percent": self.percent,
        }


@dataclass
class _Run:
    job: ImportJob
    task: asyncio.Task


#: The jobs this process is working on now (their rows are the truth for everyone else).
_running: dict[str, _Run] = {}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stale_before(now: int) -> int:
    return now - int(STALE_AFTER * 1000)


def _job(row: Any) -> ImportJob:
    job = ImportJob(
        id=row["id"], community_id=row["community"], owner_id=row["owner"],
        filename=row["filename"], state=row["state"], stage=row["stage"], done=row["done"],
        total=row["total"], reason=row["reason"], resume=row["resume"], changed_ms=row["changed_ms"],
        summary=msgspec.json.decode(row["summary"], type=ImportSummary) if row["summary"] else None,
        bad=[BadRow(b["row"], b["reason"], b["params"]) for b in json.loads(row["bad"] or "[]")],
        params=json.loads(row["params"] or "{}"),
    )
    if job.running and job.changed_ms < _stale_before(_now_ms()):
        # Its worker stopped (or hangs): say so, and offer to start it again.
        job.state, job.resume, job.reason, job.params = FAILED, job.state, INTERRUPTED, {}
    return job


def _stored_name(filename: str) -> str:
    """The file's name as the row keeps it: at most 255 characters, its extension kept
    (the kind of file is read from it)."""
    return filename if len(filename) <= 255 else filename[:120] + "…" + filename[-120:]


async def get(community_id: int, job_id: str) -> ImportJob:
    """The job, if it is of this community (another community's is simply not found)."""
    run = _running.get(job_id)
    if run is not None and run.job.community_id == community_id:
        return run.job
    rows = await fetch(
        f"SELECT {_COLUMNS} FROM roster_import WHERE id = {{}} AND community = {{}}",
        job_id[:32], community_id,
    )
    if not rows:
        raise NotFound()
    return _job(rows[0])


async def check(
    community_id: int, owner_id: int, data: bytes, filename: str, *, ledger: Ledger
) -> ImportJob:
    """Start checking an uploaded roster: read it, check its rows, dry-run the import."""
    await prune(community_id)
    job = ImportJob(id=secrets.token_urlsafe(12), community_id=community_id, owner_id=owner_id,
                    filename=_stored_name(filename))
    now = _now_ms()
    await fetch(
        "INSERT INTO roster_import (id, community, owner, filename, state, stage, content, runner,"
        " created_ms, changed_ms) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        job.id, community_id, owner_id, job.filename, job.state, job.stage, data, _RUNNER, now, now,
    )
    _start(job, lambda: _check(job, data, ledger))
    return job


async def confirm(community_id: int, job_id: str, *, ledger: Ledger) -> ImportJob:
    """Import a checked roster. A second confirmation (a double tap, on any worker) changes
    nothing: only one of them can move the row from "ready" to "importing"."""
    rows = await fetch(
        "UPDATE roster_import SET state = {}, stage = 'structure', done = 0, runner = {},"
        " changed_ms = {} WHERE id = {} AND community = {} AND state = {}"
        f" RETURNING {_COLUMNS}, content",
        IMPORTING, _RUNNER, _now_ms(), job_id[:32], community_id, READY,
    )
    if not rows:
        job = await get(community_id, job_id)
        if job.state in (IMPORTING, DONE):
            return job
        raise Conflict("conflict")
    job, content = _job(rows[0]), bytes(rows[0]["content"])
    _start(job, lambda: _import(job, content, ledger))
    return job


async def restart(community_id: int, job_id: str, *, ledger: Ledger) -> ImportJob:
    """Start again a job whose worker stopped, from its file: its check, or its import
    (importing a roster again creates nobody twice). Two restarts at once start it once; a
    job that has not stopped is left as it is."""
    now = _now_ms()
    rows = await fetch(
        "UPDATE roster_import SET state = CASE WHEN state = {} THEN resume ELSE state END,"
        " stage = 'reading', done = 0, reason = NULL, params = NULL, resume = NULL, runner = {},"
        " changed_ms = {} WHERE id = {} AND community = {} AND content IS NOT NULL"
        " AND ((state = {} AND resume IS NOT NULL) OR (state IN ({}, {}) AND changed_ms < {}))"
        f" RETURNING {_COLUMNS}, content",
        FAILED, _RUNNER, now, job_id[:32], community_id, FAILED, CHECKING, IMPORTING,
        _stale_before(now),
    )
    if not rows:
        # Not stopped (any more): a second tap, or started again elsewhere. Show it as it is.
        return await get(community_id, job_id)
    job, content = _job(rows[0]), bytes(rows[0]["content"])
    work = _check if job.state == CHECKING else _import
    _start(job, lambda: work(job, content, ledger))
    log.info("roster import %s started again (%s)", job.id, job.state)
    return job


async def _check(job: ImportJob, data: bytes, ledger: Ledger) -> None:
    # Parsing a spreadsheet is CPU work: off the event loop.
    parsed = await roster.read_off_loop(data, job.filename)
    if parsed.bad:
        raise RosterRejected(parsed.bad)
    job.progress("structure", 0, len(parsed.rows))
    job.summary = await roster.import_roster(
        job.community_id, parsed, ledger=ledger, dry_run=True, progress=job.progress
    )
    job.state = READY


async def _import(job: ImportJob, data: bytes, ledger: Ledger) -> None:
    # Read again from the file, not from the checking worker's memory: any worker imports it.
    parsed = await roster.read_off_loop(data, job.filename)
    job.progress("structure", 0, len(parsed.rows))
    job.summary = await roster.import_roster(
        job.community_id, parsed, ledger=ledger, progress=job.progress
    )
    job.state = DONE
    log.info("roster import %s by person %s: %s created, %s updated", job.id, job.owner_id,
             job.summary.created, job.summary.updated)


def _start(job: ImportJob, work: Callable[[], Awaitable[None]]) -> None:
    async def run() -> None:
        reporting = asyncio.create_task(_report(job), name=f"roster-import-progress-{job.id}")
        try:
            await work()
        except RosterRejected as error:
            job.state, job.bad = BAD, list(error.bad)
        except (MarketError, LedgerError) as error:
            job.state, job.reason = FAILED, error.reason
            job.params = dict(getattr(error, "params", {}))
        except asyncio.CancelledError:
            # The worker is shutting down: say so now rather than after STALE_AFTER.
            job.state, job.resume, job.reason = FAILED, job.state, INTERRUPTED
            raise
        except Exception:
            log.exception("roster import %s failed", job.id)
            job.state, job.reason = FAILED, "internal"
        finally:
            reporting.cancel()
            try:
                await _write_end(job)
            except Exception:
                log.exception("roster import %s: its end was not written; it will show as interrupted",
                              job.id)
            finally:
                _running.pop(job.id, None)

    _running[job.id] = _Run(job, asyncio.create_task(run(), name=f"roster-import-{job.id}"))


async def _report(job: ImportJob) -> None:
    """Write the job's progress every ``PROGRESS_EVERY`` seconds while it runs (one write
    at a time: on SQLite one may wait for the import's own transaction)."""
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        try:
            await fetch(
                "UPDATE roster_import SET stage = {}, done = {}, total = {}, changed_ms = {}"
                " WHERE id = {} AND runner = {} AND state IN ({}, {})",
                job.stage, job.done, job.total, _now_ms(), job.id, _RUNNER, CHECKING, IMPORTING,
            )
        except Exception as error:  # the next one may get through; a long silence shows
            log.warning("roster import %s: progress not written (%s)", job.id, type(error).__name__)


async def _write_end(job: ImportJob) -> None:
    """The job's outcome, unless another worker has started it again meanwhile. The file is
    kept while the job may still need it (to be confirmed, or started again)."""
    keep_file = job.state == READY or job.resume is not None
    summary = None if job.summary is None else msgspec.json.encode(job.summary).decode()
    bad = json.dumps([{"row": b.row, "reason": b.reason, "params": b.params} for b in job.bad],
                     ensure_ascii=False, default=str) if job.bad else None
    params = json.dumps(job.params, ensure_ascii=False, default=str) if job.params else None
    await fetch(
        "UPDATE roster_import SET state = {}, stage = {}, done = {}, total = {}, summary = {},"
        " bad = {}, reason = {}, params = {}, resume = {}, changed_ms = {}"
        + ("" if keep_file else ", content = NULL")
        + " WHERE id = {} AND runner = {}",
        job.state, job.stage, job.done, job.total, summary, bad, job.reason, params, job.resume,
        _now_ms(), job.id, _RUNNER,
    )


async def settle(job_id: str, seconds: float | None = None) -> None:
    """Wait until this worker's step of the job ends, or ``seconds`` pass (None: however
    long). A job run by another worker is not waited for."""
    run = _running.get(job_id)
    if run is not None and not run.task.done():
        # asyncio.wait never cancels what it waits for: the job runs on after a timeout.
        await asyncio.wait({run.task}, timeout=seconds)


async def prune(community_id: int | None = None) -> int:
    """Forget jobs unchanged for ``KEEP_SECONDS`` (a running one writes every second, so
    one that old is dead), and a community's finished jobs beyond its newest ``MAX_JOBS``.
    Returns how many were forgotten."""
    gone = await fetch(
        "DELETE FROM roster_import WHERE changed_ms < {} RETURNING id", _now_ms() - KEEP_SECONDS * 1000
    )
    if community_id is not None:
        gone += await fetch(
            "DELETE FROM roster_import WHERE community = {} AND state NOT IN ({}, {}) AND id NOT IN"
            " (SELECT id FROM roster_import WHERE community = {} ORDER BY created_ms DESC LIMIT {})"
            " RETURNING id", community_id, CHECKING, IMPORTING, community_id, MAX_JOBS - 1,
        )
    return len(gone)
