"""Signed daily checkpoints (阳光积分): signing, the downloadable history, the offline checker, proofs.

Hand-computed figures on a small fixed data set: the resident gets +30.00, +12.50 and −5.25
by adjustment (issued 37.25) and redeems 7.75 at the shop (outstanding 29.50). Checkpoints
are made for three past Beijing days through the service (``now=``), today's through the
API. The database is the test session's shared one, so a tampered transfer is put back in a
``finally`` (the triggers dropped and recreated around both changes, as an attacker would).
"""

import asyncio
import copy
import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from litestar import Litestar

from ledger import Ledger
from ledger.chain import link
from ledger.model import Row
from market.community import service as communities
from market.community.service import CommunityView
from market.db import engine_name, fetch
from market.reports import checkpoint_service as service
from market.reports import keys
from market.reports.checkpoint_verify import (
    GENESIS,
    SIGNED_FIELDS,
    Invalid,
    checkpoint_text,
    transfer_hash,
    verify_history,
    verify_proof,
)
from tests.market.support import Member, adjust

MARKET = str(Path(sys.executable).with_name("market"))
NOW = datetime.now(UTC)
DAYS = [NOW - timedelta(days=3), NOW - timedelta(days=2), NOW - timedelta(days=1)]


async def _fill(admin: Member, resident: Member, ledger: Ledger, community: CommunityView) -> list[str]:
    """The fixed data set; returns the transfer ids in order."""
    ids = []
    for amount in ("30", "12.50", "-5.25"):
        response = await adjust(admin, resident.id, amount)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    wallet = await ledger.account_id(community.id, "wallet", str(resident.id))
    shop = await ledger.account_id(community.id, "shop")
    redeemed = await ledger.transfer(f"test-redeem-{community.id}", wallet, shop, "7.75", "redemption")
    ids.append(redeemed.id)
    return ids


async def _history(client, community: CommunityView) -> dict:
    response = await client.get("/api/transparency/checkpoints.json", params={"community": community.id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "attachment" in response.headers["content-disposition"]
    return json.loads(response.content)


def _settings(app: Litestar):
    return app.state.settings


async def test_a_checkpoint_signs_what_it_says_and_is_made_once_a_day(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member
) -> None:
    await _fill(admin, resident, ledger, community)
    made = await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    head_seq, head_hash = await ledger.head()
    assert (made.head_seq, made.head_hash) == (head_seq, head_hash)
    assert (made.issued, made.redeemed, made.outstanding, made.expired) == ("37.25", "7.75", "29.50", "0.00")
    assert made.previous == GENESIS and made.community_id == community.id
    assert made.day == (DAYS[0] + timedelta(hours=8)).date().isoformat()  # Beijing is UTC+8
    text = checkpoint_text(made.signed())
    assert made.hash == hashlib.sha256(text).hexdigest()
    keys.public_key(_settings(app), community.id).verify(bytes.fromhex(made.signature), text)
    assert made.public_key == keys.public_key_hex(_settings(app), community.id)

    # Idempotent per day, even after more transfers; the next day chains to it.
    await adjust(admin, resident.id, "1")
    again = await service.make_checkpoint(_settings(app), community.id, DAYS[0] + timedelta(minutes=5))
    assert again == made
    following = await service.make_checkpoint(_settings(app), community.id, DAYS[1])
    assert following.previous == made.hash and following.issued == "38.25"
    # A day before the newest is refused (a clock set back), and nothing is stored.
    with pytest.raises(Exception) as refused:
        await service.make_checkpoint(_settings(app), community.id, DAYS[0] - timedelta(days=1))
    assert getattr(refused.value, "reason", "") == "checkpoint_day_passed"
    page = await service.history_page(_settings(app), community.id)
    assert [c.day for c in page.items] == [following.day, made.day]


async def test_checkpoints_are_append_only(app: Litestar, community: CommunityView) -> None:
    await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    for sql in ("UPDATE transparency_checkpoint SET issued = 1 WHERE community = {}",
                "DELETE FROM transparency_checkpoint WHERE community = {}"):
        with pytest.raises(Exception, match="append-only"):
            await fetch(sql, community.id)
    assert len((await service.history_page(_settings(app), community.id)).items) == 1


async def test_the_history_file_checks_out_offline(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon, tmp_path
) -> None:
    ids = await _fill(admin, resident, ledger, community)
    for day in DAYS:
        await service.make_checkpoint(_settings(app), community.id, day)
        await adjust(admin, resident.id, "2")
    key = keys.public_key_hex(_settings(app), community.id)
    document = await _history(anon, community)
    assert document["public_key"] == key and len(document["checkpoints"]) == 3
    outcome = verify_history(document, key, transfer_id=ids[0])
    assert outcome.checkpoints == 3 and outcome.head_seq == document["checkpoints"][-1]["head_seq"]
    assert outcome.transfers == outcome.head_seq  # every transfer up to the newest head
    assert [c["issued"] for c in document["checkpoints"]] == ["37.25", "39.25", "41.25"]
    assert [c["outstanding"] for c in document["checkpoints"]] == ["29.50", "31.50", "33.50"]

    # The documented command, in a subprocess: standalone, and as `market transparency verify`.
    path = tmp_path / "history.json"
    path.write_bytes(json.dumps(document).encode())
    commands = ([sys.executable, "-m", "market.reports.checkpoint_verify"],
                [MARKET, "transparency", "verify"])
    for command in commands:
        done = await asyncio.to_thread(
            subprocess.run, [*command, str(path), "--public-key", key, "--transfer", ids[0]],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "OK:" in done.stdout and f"transfer {ids[0]} is entry" in done.stdout
    other_key = keys.public_key_hex(_settings(app), community.id + 1)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "market.reports.checkpoint_verify", str(path),
                         "--public-key", other_key], capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "FAILED" in done.stderr


def _altered(document: dict, change) -> dict:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


async def test_the_checker_fails_on_any_altered_checkpoint(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    await _fill(admin, resident, ledger, community)
    for day in DAYS:
        await service.make_checkpoint(_settings(app), community.id, day)
        await adjust(admin, resident.id, "1")
    key = keys.public_key_hex(_settings(app), community.id)
    document = await _history(anon, community)
    verify_history(document, key)

    replacements = {
        "version": 2, "community_id": community.id + 1, "day": "2020-01-01",
        "at": "2020-01-01T00:00:00.000000Z",
        "head_seq": 1, "head_hash": "f" * 64, "issued": "99.00", "redeemed": "0.01",
        "outstanding": "1.00", "expired": "0.01", "previous": "e" * 64, "hash": "d" * 64,
        "signature": "00" * 64,
    }
    assert set(replacements) == {*SIGNED_FIELDS, "hash", "signature"}
    for name, value in replacements.items():
        bad = _altered(document, lambda d, n=name, v=value: d["checkpoints"][1].__setitem__(n, v))
        with pytest.raises(Invalid):
            verify_history(bad, key)

    # Re-signing with another key does not help: the checker holds the community's public key.
    with pytest.raises(Invalid, match="public key"):
        verify_history(document, keys.public_key_hex(_settings(app), community.id + 1))
    # A checkpoint removed from the middle, or the order changed.
    with pytest.raises(Invalid, match="does not follow"):
        verify_history(_altered(document, lambda d: d["checkpoints"].pop(1)), key)
    with pytest.raises(Invalid):
        verify_history(_altered(document, lambda d: d["checkpoints"].reverse()), key)
    # Transfers cut short before the newest head.
    with pytest.raises(Invalid, match="stop at"):
        verify_history(_altered(document, lambda d: d["transfers"].pop()), key)


def _recompute_from(document: dict, index: int) -> None:
    """What a forger would do: rewrite every hash from the changed transfer on."""
    rows = document["transfers"]
    previous = rows[index - 1][16] if index else GENESIS
    for row in rows[index:]:
        row[16] = transfer_hash(previous, row)
        previous = row[16]


async def test_the_checker_fails_when_a_transfer_is_altered(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    ids = await _fill(admin, resident, ledger, community)
    await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    key = keys.public_key_hex(_settings(app), community.id)
    document = await _history(anon, community)
    index = next(i for i, row in enumerate(document["transfers"]) if row[1] == ids[1])

    # In the file: the amount changed (its hash then fails), or changed with every hash after
    # it recomputed (the chain then no longer reaches the signed head).
    amount_changed = _altered(document, lambda d: d["transfers"][index].__setitem__(7, 125000))
    with pytest.raises(Invalid, match=f"id {ids[1]}"):
        verify_history(amount_changed, key)

    def forge(d: dict) -> None:
        d["transfers"][index][7] = 125000
        _recompute_from(d, index)

    with pytest.raises(Invalid, match="another hash"):
        verify_history(_altered(document, forge), key)

    # In the database, behind the append-only triggers' back: the next download fails the check.
    seq = document["transfers"][index][0]
    await _tamper(seq, "memo = '改过的'")
    try:
        with pytest.raises(Invalid, match=f"transfer {seq} \\(id {ids[1]}\\)"):
            verify_history(await _history(anon, community), key)
        page = await anon.get("/api/transparency/proof",
                              params={"community": community.id, "transfer": ids[1]})
        with pytest.raises(Invalid):
            verify_proof(page.json(), key)
    finally:
        await _tamper(seq, f"memo = '{document['transfers'][index][8]}'")
    verify_history(await _history(anon, community), key)


async def _tamper(seq: int, assignment: str) -> None:
    """UPDATE one transfer with the append-only triggers out of the way, then put them back."""
    update = f"UPDATE ledger_transfer SET {assignment} WHERE seq = {seq}"
    if engine_name() == "postgres":
        for sql in ("ALTER TABLE ledger_transfer DISABLE TRIGGER USER", update,
                    "ALTER TABLE ledger_transfer ENABLE TRIGGER USER"):
            await fetch(sql)
        return
    (trigger,) = await fetch("SELECT sql FROM sqlite_master WHERE name = 'ledger_transfer_no_update'")
    await fetch("DROP TRIGGER ledger_transfer_no_update")
    try:
        await fetch(update)
    finally:
        await fetch(trigger["sql"])


async def test_an_entrys_proof_checks_out_offline_and_a_forged_one_does_not(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await _fill(admin, resident, ledger, community)
    key = keys.public_key_hex(_settings(app), community.id)
    params = {"community": community.id, "transfer": ids[1]}

    pending = (await anon.get("/api/transparency/proof", params=params)).json()
    assert pending["status"] == "not_yet" and pending["checkpoint"] is None
    with pytest.raises(Invalid, match="not complete"):
        verify_proof(pending, key)

    made = await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    answer = await anon.get("/api/transparency/proof", params=params)
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    assert proof["status"] == "ok" and proof["checkpoint"]["hash"] == made.hash
    assert proof["transfers"][0][1] == ids[1] and proof["transfers"][-1][0] == made.head_seq
    outcome = verify_proof(proof, key)
    assert f"transfer {ids[1]} is entry {proof['seq']}" in outcome.notes[0]

    forgeries = {
        "amount": lambda d: d["transfers"][0].__setitem__(7, 1),
        "memo": lambda d: d["transfers"][0].__setitem__(8, "伪造"),
        "another id": lambda d: d.__setitem__("transfer_id", ids[0]),
        "previous hash": lambda d: d.__setitem__("previous_hash", "a" * 64),
        "a link dropped": lambda d: d["transfers"].pop(),
        "head": lambda d: d["checkpoint"].__setitem__("head_hash", "b" * 64),
    }
    for name, change in forgeries.items():
        with pytest.raises(Invalid):
            verify_proof(_altered(proof, change), key)
        assert name

    def rehash(d: dict) -> None:  # a forged entry with its own chain rebuilt
        d["transfers"][0][7] = 1
        previous = d["previous_hash"]
        for row in d["transfers"]:
            row[16] = transfer_hash(previous, row)
            previous = row[16]

    with pytest.raises(Invalid, match="signed checkpoint's head"):
        verify_proof(_altered(proof, rehash), key)

    monkeypatch.setattr(service, "MAX_PROOF", 1)
    long = (await anon.get("/api/transparency/proof", params={**params, "transfer": ids[0]})).json()
    assert long["status"] == "too_long" and long["checkpoint"]["hash"] == made.hash

    for bad, status in (({"transfer": "no-such-transfer"}, 404), ({"community": 999999999}, 404),
                        ({"transfer": ""}, 400), ({"community": "x"}, 400)):
        response = await anon.get("/api/transparency/proof", params={**params, **bad},
                                  headers={"Accept-Language": "en"})
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_entry_of_another_community_is_not_found(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    ids = await _fill(admin, resident, ledger, community)
    other = await communities.get_or_create(ledger, f"{community.name}-邻居")
    await service.make_checkpoint(_settings(app), other.id, DAYS[0])
    response = await anon.get("/api/transparency/proof", params={"community": other.id, "transfer": ids[0]})
    assert response.status_code == 404


async def test_who_may_do_what(
    app: Litestar, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    assert (await anon.post("/api/transparency/checkpoints")).status_code == 401
    assert (await resident.client.post("/api/transparency/checkpoints")).status_code == 403
    made = await admin.client.post("/api/transparency/checkpoints")
    assert made.status_code == 201, made.text
    again = await admin.client.post("/api/transparency/checkpoints")
    assert again.json()["hash"] == made.json()["hash"]  # once a day
    assert made.json()["community_id"] == community.id

    listed = await anon.get("/api/transparency/checkpoints", params={"community": community.id})
    assert listed.status_code == 200
    body = listed.json()
    assert [c["hash"] for c in body["items"]] == [made.json()["hash"]] and body["next_cursor"] is None
    assert body["public_key"] == made.json()["public_key"]
    bad = await anon.get("/api/transparency/checkpoints", params={"community": community.id, "cursor": "x1"})
    assert bad.status_code == 400
    unknown = await anon.get("/api/transparency/checkpoints", params={"community": 999999999})
    assert unknown.status_code == 404
    # The existing totals endpoint is unchanged.
    assert (await anon.get("/api/transparency", params={"community": community.id})).status_code == 200


async def test_history_is_paged_newest_first(app: Litestar, community: CommunityView, anon) -> None:
    made = [await service.make_checkpoint(_settings(app), community.id, NOW - timedelta(days=d))
            for d in range(5, 0, -1)]
    first = (await anon.get("/api/transparency/checkpoints",
                            params={"community": community.id, "limit": 2})).json()
    assert [c["day"] for c in first["items"]] == [made[4].day, made[3].day]
    second = (await anon.get("/api/transparency/checkpoints", params={
        "community": community.id, "limit": 2, "cursor": first["next_cursor"]})).json()
    assert [c["day"] for c in second["items"]] == [made[2].day, made[1].day]
    third = (await anon.get("/api/transparency/checkpoints", params={
        "community": community.id, "limit": 2, "cursor": second["next_cursor"]})).json()
    assert [c["day"] for c in third["items"]] == [made[0].day] and third["next_cursor"] is None


async def test_the_sweeper_makes_the_days_checkpoint(app: Litestar, community: CommunityView) -> None:
    task = asyncio.create_task(service.keep_checkpointing(_settings(app), every=0.01, clock=lambda: DAYS[2]))
    try:
        for _ in range(500):
            if (await service.latest(community.id)) is not None:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    newest = await service.latest(community.id)
    assert newest is not None and newest.day == (DAYS[2] + timedelta(hours=8)).date().isoformat()


async def test_the_command_makes_todays_checkpoint(app: Litestar, community: CommunityView) -> None:
    env = {**os.environ}
    done = await asyncio.to_thread(
        subprocess.run, [MARKET, "transparency", "checkpoint", "--community", community.name],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    newest = await service.latest(community.id)
    assert newest is not None and newest.hash in done.stdout
    unknown = await asyncio.to_thread(
        subprocess.run, [MARKET, "transparency", "checkpoint", "--community", "没有这个社区"],
        env={**env, "LANG": "en_US.UTF-8"}, capture_output=True, text=True, timeout=120,
    )
    assert unknown.returncode == 1 and "No such community" in unknown.stderr


def test_the_checker_hashes_transfers_exactly_as_the_ledger() -> None:
    row = [7, "adj:1:k", 3, "adjustment", "single", 11, 12, 1250, "补发 “积分”", None, None, None, None,
           1_700_000_000_123_456, -1250, 1250]
    previous = "ab" * 32
    expected = link(previous, Row(*row, hash=""))
    assert transfer_hash(previous, [*row, expected]) == expected
