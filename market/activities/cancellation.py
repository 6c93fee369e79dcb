"""Cancelling an activity: its stays cancelled and every credit it made reversed, with the
reason, in one unit that locks the activity (``FOR UPDATE``) first.

A cancellation that commits before an approval leaves nothing for the approval to credit; one
that commits after reverses what the approval credited. Credits under 公示 are withdrawn: a
waiting hold voided, a posted one's posting reversed.
"""

import logging
from datetime import datetime

from ledger import Ledger, Transfer, TransferNotFound, reversal
from market import clock
from market.activities import validation
from market.activities.credits import transfer_ids
from market.activities.records import managed_steps
from market.activities.schemas import CancelResult
from market.auth.sessions import Principal
from market.points import publicity
from market.points.lots import unearned_steps
from market.writes import LedgerStep, Steps, write

log = logging.getLogger(__name__)


async def cancel(ledger: Ledger, me: Principal, activity_id: int, reason: str) -> CancelResult:
    """Cancel the activity and reverse every credit it made, with the reason, in one transaction.

    Safe to repeat: reversal ids are derived from the credits' ids. A credit
    whose points were already spent cannot be reversed (wallets never go
    negative): it is counted in ``not_reversed`` and logged.
    """
    reason = validation.reason(reason)
    result = await write(_cancel_steps, ledger, me, activity_id, reason, clock.now())
    log.info("activity %s cancelled: %s credits reversed, %s not", activity_id, result.reversed,
             result.not_reversed)
    return result


def _cancel_steps(
    ledger: Ledger, me: Principal, activity_id: int, reason: str, at: datetime
) -> Steps[CancelResult]:
    row = yield from managed_steps(me, activity_id, scheduled=False)
    if row["status"] == "cancelled":
        reason = row["cancel_reason"] or reason
    else:
        yield ("UPDATE activity SET status = 'cancelled', cancel_reason = {}, cancelled_at = {}"
               " WHERE id = {}", (reason, at, activity_id))
    stays = yield ("SELECT id FROM activity_stay WHERE activity = {} ORDER BY id", (activity_id,))
    yield ("UPDATE activity_stay SET status = 'cancelled' WHERE activity = {} AND status <> 'cancelled'",
           (activity_id,))
    credits = [transfer_id for stay in stays for transfer_id in transfer_ids(stay["id"])]
    done = failed = 0
    if credits:
        # Credits under 公示: a waiting hold is voided, a posted one's posting reversed.
        undo = yield from publicity.withdrawn_steps(me.community_id, credits, reason, at)
        outcomes = yield LedgerStep(ledger, [
            undo[transfer_id][0] if transfer_id in undo
            else reversal(f"{transfer_id}:rev", transfer_id, reason, ledger=me.community_id)
            for transfer_id in credits
        ], each=True)
        reversed_credits = []
        for transfer_id, outcome in zip(credits, outcomes, strict=True):
            if isinstance(outcome, Transfer):
                done += 1
                lots_of = undo[transfer_id][1] if transfer_id in undo else transfer_id
                if lots_of is not None:  # a voided hold had no lots yet
                    reversed_credits.append((outcome.id, lots_of))
            elif not isinstance(outcome, TransferNotFound):  # not found: nothing was credited
                failed += 1  # spent already (wallets never go negative), or not reversible
                log.warning("credit %s not reversed: %s", transfer_id, outcome.reason)
        yield from unearned_steps(reversed_credits, at)
    return CancelResult(
        id=activity_id, status="cancelled", cancel_reason=reason, reversed=done, not_reversed=failed,
    )
