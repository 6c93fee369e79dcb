"""A town's mixed day (``bench/town_load.py``) against real ``market serve`` processes: no 5xx, every
acknowledged write there afterwards, the books verify and the balances replay.

On PostgreSQL (``MARKET_TEST_DB=postgres``) it is issue 13's trial: ``market serve --workers 2`` with
``REDIS_URL``, two communities, 30 seconds of check-ins and check-outs, approvals, redemptions
(some re-sent, some that must be refused), refunds, reservations cancelled and fulfilled, adjustments
and reads by 16 clients. On SQLite one worker for 20 seconds. The database is the trial's own (a
fresh schema or file), not the session's.

The audit itself is shown to fail where it must, without a server: a 500, a redemption that is not
there, an adjustment missing from the entries, a balance that is not the sum of its entries.
"""

from collections import Counter

import httpx
import pytest

from bench.town_answers import Answer, Recorder
from bench.town_audit import _redemptions, _wallets
from bench.town_load import Options, _acknowledged, _answer_checks, report, run_trial
from bench.town_model import Community, Resident, Sale
from tests.conftest import PG_URL, db_engine

#: What a day must at least have done for its "nothing lost" to mean something.
AT_LEAST = {"check-ins": 50, "check-outs": 20, "approvals": 5, "redemptions": 50, "refunds (points)": 5,
            "reservations": 20, "cancelled": 3, "fulfilled": 3, "adjustments": 10}


@pytest.mark.slow
async def test_a_town_day_answers_no_5xx_and_loses_nothing() -> None:
    postgres = db_engine() == "postgres"
    options = Options(
        engine=db_engine(), workers=2 if postgres else 1, redis=postgres,
        # Half the trial's minute: enough for every kind of write many times over (AT_LEAST),
        # within CI's budget; bench/town_load.py runs the longer days (docs/PERFORMANCE.md).
        communities=2, seconds=30 if postgres else 20, clients=16, residents=15,
        # /health alone first, by all 16 clients: a few hundred answers, each of which must not be
        # a 5xx; its rate is only the report's yardstick (bench/town_load.py runs 10 s of it), so
        # one second says here what three did.
        health_seconds=1, pg_url=PG_URL,
    )
    trial = await run_trial(options, say=lambda _: None)
    text = report(trial)
    print(text)
    checks = {check.name: check for check in trial.checks}
    assert "set-up over the API" not in checks, text
    done = _acknowledged(trial.communities)
    assert all(done[what] >= n for what, n in AT_LEAST.items()), f"too little happened: {done}\n{text}"
    for name in (
        "no 5xx answers", "every request answered", "no answers the rules do not allow",
        "acknowledged redemptions and refunds present", "acknowledged reservations present",
        "acknowledged check-ins, check-outs and approvals present", "acknowledged adjustments present",
        "every balance equals the sum of its entries", "every balance equals the acknowledged writes",
        "every product's stock equals the acknowledged writes", "market ledger verify",
        "market reports check",
    ):
        assert checks[name].ok, f"{name}: {checks[name].detail}\n{text}"
    assert not trial.failed, text


# -- the audit fails where it must ------------------------------------------------------------------


def test_a_500_or_a_dropped_request_fails_the_day() -> None:
    recorder = Recorder()
    recorder.record("redeem", Answer(201, b"{}"), 0.01)
    assert all(check.ok for check in _answer_checks(recorder))
    recorder.record("redeem", Answer(500, b'{"status": 500, "reason": "internal"}'), 0.01)
    recorder.record("check-in", Answer(0, b"TimeoutError"), 30.0)
    checks = {check.name: check for check in _answer_checks(recorder)}
    assert not checks["no 5xx answers"].ok and "redeem" in checks["no 5xx answers"].detail
    assert not checks["every request answered"].ok


def _town() -> tuple[Community, Resident]:
    resident = Resident(7, "13900000007", "token-7", adjustments={"adj:1:fund": 300_000, "adj:1:k2": 500})
    community = Community(0, "城南01社区", admin="admin", keeper="keeper", residents=[resident])
    community.sales.append(Sale(41, "k", resident, 1_250, {3: 1}, {3: 1}))
    resident.spent = 1_250
    return community, resident


def _api(answers: dict[str, dict | None]):
    """A stand-in for the server: the JSON of each path, or 404 for None."""
    async def get(path: str, token: str) -> httpx.Response:
        body = answers[path]
        return httpx.Response(404 if body is None else 200, json=body or {"reason": "not_found"})
    return get


async def test_the_audit_finds_a_redemption_that_is_not_there() -> None:
    community, _ = _town()
    sold = {"person": {"id": 7}, "items": [{"product_id": 3, "quantity": 1}], "total": "12.50",
            "refunded": "0.00"}
    assert (await _redemptions(_api({"/api/redemptions/41": sold}), [community])).ok
    missing = await _redemptions(_api({"/api/redemptions/41": None}), [community])
    assert not missing.ok and "redemption 41: 404" in missing.detail
    other = await _redemptions(_api({"/api/redemptions/41": {**sold, "total": "10.00"}}), [community])
    assert not other.ok


async def test_the_audit_finds_a_missing_adjustment_and_a_balance_its_entries_do_not_make() -> None:
    community, _ = _town()
    balance = {"balance": "2992.50", "held": "0.00", "available": "2992.50"}
    right = {"items": [
        {"id": "adj:1:k2", "amount": "5.00", "balance_after": "2992.50"},
        {"id": "sale", "amount": "-12.50", "balance_after": "2987.50"},
        {"id": "adj:1:fund", "amount": "3000.00", "balance_after": "3000.00"},
    ], "next_cursor": None}
    checks = await _wallets(_api({"/api/me/balance": balance, "/api/me/entries?limit=100": right}),
                            [community])
    assert all(check.ok for check in checks), checks
    lost = {**right, "items": right["items"][1:]}  # the acknowledged adjustment k2 is not there
    named = {c.name: c for c in await _wallets(
        _api({"/api/me/balance": balance, "/api/me/entries?limit=100": lost}), [community])}
    assert not named["acknowledged adjustments present"].ok
    assert not named["every balance equals the sum of its entries"].ok
    assert named["every balance equals the acknowledged writes"].ok  # the balance itself is right
    more = {"balance": "3000.00", "held": "0.00", "available": "3000.00"}
    named = {c.name: c for c in await _wallets(
        _api({"/api/me/balance": more, "/api/me/entries?limit=100": right}), [community])}
    assert Counter(c.ok for c in named.values()) == Counter({True: 1, False: 2}), named
    assert not named["every balance equals the sum of its entries"].ok
    assert not named["every balance equals the acknowledged writes"].ok
