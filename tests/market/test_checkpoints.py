"""Signed daily checkpoints (阳光积分): signing, the downloadable history, the offline checker, proofs.

Hand-computed figures on a small fixed data set: the resident gets +30.00, +12.50 and −5.25
by adjustment (issued 37.25) and redeems 7.75 at the shop (outstanding 29.50). Checkpoints
are made for three past Beijing days through the service (``now=``), today's through the
API. Each community's history holds its own chain only: a test has two communities write in
turns and looks for the other's entries in the file. The database is the test session's
shared one, so a tampered transfer or balance is put back in a ``finally`` (the triggers
dropped and recreated around both changes, as an attacker would). Checkpoints of version 1
and the legacy chain are tested on a database made by the release before chains per
community (``test_upgrade_transparency.py``).
"""

import asyncio
import copy
import hashlib
import json
import os
import shutil
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
from market.reports import checkpoint_files as files
from market.reports import checkpoint_service as service
from market.reports import checkpoint_verify, keys
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
# Noon in Beijing (04:00 UTC) of the last three days: a checkpoint "five minutes later" must stay on the
# same Beijing day whatever the wall clock says when the suite runs (23:55 Beijing once made it the next).
_NOON = NOW.replace(hour=4, minute=0, second=0, microsecond=0)
DAYS = [_NOON - timedelta(days=3), _NOON - timedelta(days=2), _NOON - timedelta(days=1)]


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


async def test_a_checkpoint_signs_its_communitys_chain_and_is_made_once_a_day(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member
) -> None:
    await _fill(admin, resident, ledger, community)
    made = await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    entries, head_hash = await ledger.head(community.id)
    chain = await service.chain_of(community.id)
    assert made.version == 2 and (made.head_number, made.head_hash) == (entries, head_hash) == (4, head_hash)
    assert made.genesis == chain.genesis and chain.legacy is None and made.head_seq is None
    assert (made.issued, made.redeemed, made.outstanding, made.expired) == ("37.25", "7.75", "29.50", "0.00")
    assert made.previous == GENESIS and made.community_id == community.id
    assert made.day == (DAYS[0] + timedelta(hours=8)).date().isoformat()  # Beijing is UTC+8
    text = checkpoint_text(made.signed())
    assert set(json.loads(text)) == set(SIGNED_FIELDS[2])
    assert made.hash == hashlib.sha256(text).hexdigest()
    keys.public_key(_settings(app), community.id).verify(bytes.fromhex(made.signature), text)
    assert made.public_key == keys.public_key_hex(_settings(app), community.id)

    # Idempotent per day, even after more transfers; the next day chains to it.
    await adjust(admin, resident.id, "1")
    again = await service.make_checkpoint(_settings(app), community.id, DAYS[0] + timedelta(minutes=5))
    assert again == made
    following = await service.make_checkpoint(_settings(app), community.id, DAYS[1])
    assert following.previous == made.hash and following.issued == "38.25" and following.head_number == 5
    # A day before the newest is refused (a clock set back), and nothing is stored.
    with pytest.raises(Exception) as refused:
        await service.make_checkpoint(_settings(app), community.id, DAYS[0] - timedelta(days=1))
    assert getattr(refused.value, "reason", "") == "checkpoint_day_passed"
    page = await service.history_page(_settings(app), community.id)
    assert [c.day for c in page.items] == [following.day, made.day]


async def test_a_community_without_entries_signs_its_genesis(app: Litestar, community: CommunityView) -> None:
    made = await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    chain = await service.chain_of(community.id)
    assert made.head_number == 0 and made.head_hash == made.genesis == chain.genesis
    assert (await service.status_of(_settings(app), made)).head_still_matches


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
    chain = await service.chain_of(community.id)
    assert document["public_key"] == key and len(document["checkpoints"]) == 3
    assert (document["origin"], document["genesis"]) == (chain.origin, chain.genesis)
    assert "legacy_download" not in document and "--legacy" not in document["check"]
    outcome = verify_history(document, key, transfer_id=ids[0])
    assert outcome.checkpoints == 3 and outcome.head == document["checkpoints"][-1]["head_number"] == 6
    # The community's own entries, numbered from 1, up to the newest head (not the one after it).
    assert [row[0] for row in document["transfers"]] == [1, 2, 3, 4, 5, 6]
    assert {row[2] for row in document["transfers"]} == {community.id}
    assert [c["issued"] for c in document["checkpoints"]] == ["37.25", "39.25", "41.25"]
    assert [c["outstanding"] for c in document["checkpoints"]] == ["29.50", "31.50", "33.50"]

    # The documented command, in a subprocess: as the module, as `market transparency verify`,
    # and as the one file copied elsewhere and run on its own.
    path = tmp_path / "history.json"
    path.write_bytes(json.dumps(document).encode())
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    shutil.copy(checkpoint_verify.__file__, alone / "checkpoint_verify.py")
    commands = ([sys.executable, "-m", "market.reports.checkpoint_verify"],
                [MARKET, "transparency", "verify"],
                [sys.executable, "-I", str(alone / "checkpoint_verify.py")])
    for command in commands:
        done = await asyncio.to_thread(
            subprocess.run, [*command, str(path), "--public-key", key, "--transfer", ids[0]],
            capture_output=True, text=True, timeout=60, cwd=alone,
        )
        assert done.returncode == 0, done.stderr
        assert "OK:" in done.stdout and f"transfer {ids[0]} is entry 1" in done.stdout
    other_key = keys.public_key_hex(_settings(app), community.id + 1)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "market.reports.checkpoint_verify", str(path),
                         "--public-key", other_key], capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "FAILED" in done.stderr
    # --legacy goes only with a chain that grew from the legacy one.
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "market.reports.checkpoint_verify", str(path),
                         "--public-key", key, "--legacy", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1 and "did not start from the legacy chain" in done.stderr


async def test_a_communitys_history_holds_none_of_another_communitys_entries(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    other = await communities.get_or_create(ledger, f"{community.name}-邻居")
    theirs = await ledger.open_account(other.id, "wallet", "8888")
    their_issuance = await ledger.account_id(other.id, "issuance")
    mine, their_ids = [], []
    for turn in range(4):  # the two communities write in turns
        made = await adjust(admin, resident.id, f"{turn + 1}", reason=f"本社区-{turn}")
        assert made.status_code == 201, made.text
        mine.append(made.json()["id"])
        moved = await ledger.transfer(f"their-{other.id}-{turn}", their_issuance, theirs.id, "3",
                                      "adjustment", memo=f"邻居的秘密备注-{turn}", ledger=other.id)
        their_ids.append(moved.id)
    for town in (community, other):
        await service.make_checkpoint(_settings(app), town.id, DAYS[0])

    response = await anon.get("/api/transparency/checkpoints.json", params={"community": community.id})
    text = response.content.decode()
    document = json.loads(text)
    assert [row[1] for row in document["transfers"]] == mine
    assert [row[0] for row in document["transfers"]] == [1, 2, 3, 4]
    for their_id in their_ids:
        assert their_id not in text
    assert "邻居的秘密备注" not in text and other.name not in text
    their_accounts = {theirs.id, their_issuance}
    assert not their_accounts & {a for row in document["transfers"] for a in (row[5], row[6])}
    assert not their_accounts & {int(a) for a in json.loads(document["origin"]).get("accounts", {})}
    verify_history(document, keys.public_key_hex(_settings(app), community.id))

    # And the other way round; each checks with its own key.
    their_document = await _history(anon, other)
    assert [row[1] for row in their_document["transfers"]] == their_ids
    assert not any(id_ in json.dumps(their_document, ensure_ascii=False) for id_ in mine)
    outcome = verify_history(their_document, keys.public_key_hex(_settings(app), other.id))
    assert outcome.head == 4
    with pytest.raises(Invalid):
        verify_history(their_document, keys.public_key_hex(_settings(app), community.id))


def _altered(document: dict, change) -> dict:
    copied = copy.deepcopy(document)
    change(copied)
    return copied


async def test_the_checker_fails_on_any_altered_checkpoint_or_origin(
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
        "version": 1, "community_id": community.id + 1, "day": "2020-01-01",
        "at": "2020-01-01T00:00:00.000000Z", "head_number": 1, "head_hash": "f" * 64, "genesis": "c" * 64,
        "issued": "99.00", "redeemed": "0.01", "outstanding": "1.00", "expired": "0.01",
        "previous": "e" * 64, "hash": "d" * 64, "signature": "00" * 64,
    }
    assert set(replacements) == {*SIGNED_FIELDS[2], "hash", "signature"}
    for name, value in replacements.items():
        bad = _altered(document, lambda d, n=name, v=value: d["checkpoints"][1].__setitem__(n, v))
        with pytest.raises(Invalid):
            verify_history(bad, key)
    # A total altered in the file: the signed text no longer has that hash.
    with pytest.raises(Invalid, match=r"checkpoint 2 .*its hash does not match"):
        verify_history(_altered(document, lambda d: d["checkpoints"][1].__setitem__("issued", "38.26")), key)

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

    # The origin changed (opening balances given to someone), alone or with its genesis.
    def richer(d: dict) -> None:
        d["origin"] = d["origin"][:-1] + ',"accounts":{"1":[100000,0]}}'

    with pytest.raises(Invalid, match="origin's hash is not the chain's genesis"):
        verify_history(_altered(document, richer), key)

    def rebased(d: dict) -> None:
        richer(d)
        d["genesis"] = hashlib.sha256(d["origin"].encode()).hexdigest()

    with pytest.raises(Invalid, match="signed another chain's genesis"):
        verify_history(_altered(document, rebased), key)
    with pytest.raises(Invalid, match="not this community's chain's"):
        verify_history(_altered(document, lambda d: (d.__setitem__("origin", d["origin"].replace(
            f'"ledger":{community.id}', f'"ledger":{community.id + 1}')), d.__setitem__(
            "genesis", hashlib.sha256(d["origin"].encode()).hexdigest()))), key)


def _recompute_from(document: dict, index: int) -> None:
    """What a forger would do: rewrite every hash from the changed transfer on."""
    rows = document["transfers"]
    previous = rows[index - 1][16] if index else document["genesis"]
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
    number = document["transfers"][index][0]

    # In the file: the amount changed (its hash then fails), or changed with every hash after
    # it recomputed (its recorded balances then disagree with the replay), or with the balances
    # it records changed too (the chain then no longer reaches the signed head).
    amount_changed = _altered(document, lambda d: d["transfers"][index].__setitem__(7, 125000))
    with pytest.raises(Invalid, match=f"transfer {number} \\(id {ids[1]}\\): its hash"):
        verify_history(amount_changed, key)

    def forge(d: dict) -> None:
        d["transfers"][index][7] = 125000
        _recompute_from(d, index)

    with pytest.raises(Invalid, match="balances it records"):
        verify_history(_altered(document, forge), key)

    def forge_memo(d: dict) -> None:
        d["transfers"][index][8] = "改过的"
        _recompute_from(d, index)

    with pytest.raises(Invalid, match="another hash"):
        verify_history(_altered(document, forge_memo), key)
    # A transfer of another community slipped in.
    with pytest.raises(Invalid, match="belongs to another community"):
        verify_history(_altered(document, lambda d: (d["transfers"][index].__setitem__(2, community.id + 1),
                                                     _recompute_from(d, index))), key)

    # In the database, behind the append-only triggers' back: the next download fails the check.
    (stored,) = await fetch("SELECT seq FROM ledger_transfer WHERE id = {}", ids[1])
    await _tamper("ledger_transfer", f"seq = {stored['seq']}", "memo = '改过的'")
    try:
        with pytest.raises(Invalid, match=f"transfer {number} \\(id {ids[1]}\\)"):
            verify_history(await _history(anon, community), key)
        page = await anon.get("/api/transparency/proof",
                              params={"community": community.id, "transfer": ids[1]})
        with pytest.raises(Invalid):
            verify_proof(page.json(), key)
    finally:
        await _tamper("ledger_transfer", f"seq = {stored['seq']}",
                      f"memo = '{document['transfers'][index][8]}'")
    verify_history(await _history(anon, community), key)


async def test_the_checker_fails_when_a_signed_total_is_not_the_ledgers(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    """A balance changed in the database (the account row, not the log) is signed as it is;
    the checker replays the log and names the total that differs."""
    await _fill(admin, resident, ledger, community)
    shop = await ledger.account_id(community.id, "shop")
    await _tamper("ledger_account", f"id = {shop}", "balance = balance + 100")
    try:
        await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    finally:
        await _tamper("ledger_account", f"id = {shop}", "balance = balance - 100")
    with pytest.raises(Invalid, match=r"signed redeemed 8\.75, the transfers give 7\.75"):
        verify_history(await _history(anon, community), keys.public_key_hex(_settings(app), community.id))


async def _tamper(table: str, where: str, assignment: str) -> None:
    """UPDATE one row with the append-only triggers out of the way, then put them back."""
    update = f"UPDATE {table} SET {assignment} WHERE {where}"
    if engine_name() == "postgres":
        for sql in (f"ALTER TABLE {table} DISABLE TRIGGER USER", update,
                    f"ALTER TABLE {table} ENABLE TRIGGER USER"):
            await fetch(sql)
        return
    triggers = await fetch("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = {} "
                           "AND name LIKE '%no_update'", table)
    for trigger in triggers:
        await fetch(f"DROP TRIGGER {trigger['name']}")
    try:
        await fetch(update)
    finally:
        for trigger in triggers:
            await fetch(trigger["sql"])


async def test_an_entrys_proof_checks_out_offline_and_a_forged_one_does_not(
    app: Litestar, ledger: Ledger, community: CommunityView, admin: Member, resident: Member, anon,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = await _fill(admin, resident, ledger, community)
    key = keys.public_key_hex(_settings(app), community.id)
    params = {"community": community.id, "transfer": ids[1]}

    pending = (await anon.get("/api/transparency/proof", params=params)).json()
    assert pending["status"] == "not_yet" and pending["checkpoint"] is None and pending["number"] == 2
    with pytest.raises(Invalid, match="not complete"):
        verify_proof(pending, key)

    made = await service.make_checkpoint(_settings(app), community.id, DAYS[0])
    answer = await anon.get("/api/transparency/proof", params=params)
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    assert proof["status"] == "ok" and proof["checkpoint"]["hash"] == made.hash
    assert proof["transfers"][0][1] == ids[1] and proof["transfers"][-1][0] == made.head_number == 4
    assert [row[0] for row in proof["transfers"]] == [2, 3, 4]
    outcome = verify_proof(proof, key)
    assert f"transfer {ids[1]} is entry 2" in outcome.notes[0]
    # The first entry follows the chain's genesis, which the checkpoint signs.
    first = (await anon.get("/api/transparency/proof", params={**params, "transfer": ids[0]})).json()
    assert first["previous_hash"] == made.genesis and first["number"] == 1
    verify_proof(first, key)
    with pytest.raises(Invalid, match="genesis"):
        verify_proof(_altered(first, lambda d: d.__setitem__("previous_hash", GENESIS)), key)

    forgeries = {
        "amount": lambda d: d["transfers"][0].__setitem__(7, 1),
        "memo": lambda d: d["transfers"][0].__setitem__(8, "伪造"),
        "another id": lambda d: d.__setitem__("transfer_id", ids[0]),
        "previous hash": lambda d: d.__setitem__("previous_hash", "a" * 64),
        "a link dropped": lambda d: d["transfers"].pop(),
        "head": lambda d: d["checkpoint"].__setitem__("head_hash", "b" * 64),
        "status": lambda d: d.__setitem__("status", "legacy"),
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

    monkeypatch.setattr(files, "MAX_PROOF", 1)
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


async def test_a_community_founded_after_the_upgrade_has_no_legacy_file(
    app: Litestar, community: CommunityView, anon
) -> None:
    for language, text in (("zh", "没有旧账本链"), ("en", "no legacy chain")):
        response = await anon.get("/api/transparency/legacy.json", params={"community": community.id},
                                  headers={"Accept-Language": language})
        assert response.status_code == 404
        assert response.json()["reason"] == "no_legacy_chain" and text in response.json()["detail"]
    unknown = await anon.get("/api/transparency/legacy.json", params={"community": 999999999})
    assert unknown.status_code == 404 and unknown.json()["reason"] == "not_found"


async def test_who_may_do_what(
    app: Litestar, community: CommunityView, admin: Member, resident: Member, anon
) -> None:
    assert (await anon.post("/api/transparency/checkpoints")).status_code == 401
    assert (await resident.client.post("/api/transparency/checkpoints")).status_code == 403
    made = await admin.client.post("/api/transparency/checkpoints")
    assert made.status_code == 201, made.text
    again = await admin.client.post("/api/transparency/checkpoints")
    assert again.json()["hash"] == made.json()["hash"]  # once a day
    assert made.json()["community_id"] == community.id and made.json()["version"] == 2
    assert "head_seq" not in made.json() and made.json()["head_number"] == 0

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


async def test_the_sweep_makes_the_days_checkpoint(app: Litestar, community: CommunityView) -> None:
    """What the daily sweep runs (``market.background`` runs it in one worker at a time)."""
    made = await service.checkpoint_all(_settings(app), DAYS[2])
    assert community.id in [c.community_id for c in made]
    assert await service.checkpoint_all(_settings(app), DAYS[2]) == made  # once a day
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
    assert newest is not None and newest.hash in done.stdout and f"entry {newest.head_number} " in done.stdout
    unknown = await asyncio.to_thread(
        subprocess.run, [MARKET, "transparency", "checkpoint", "--community", "没有这个社区"],
        env={**env, "LANG": "en_US.UTF-8"}, capture_output=True, text=True, timeout=120,
    )
    assert unknown.returncode == 1 and "No such community" in unknown.stderr


def test_the_checker_hashes_transfers_exactly_as_the_ledger() -> None:
    row = [7, "adj:1:k", 3, "adjustment", "single", 11, 12, 1250, "补发 “积分”", None, None, None, None,
           1_700_000_000_123_456, -1250, 1250]
    previous = "ab" * 32
    # In a community's chain the first value is the row's number; the table's seq is not hashed.
    expected = link(previous, Row(seq=99, id=row[1], ledger=3, kind=row[3], phase=row[4], debit=11, credit=12,
                                  amount=1250, memo=row[8], reference=None, pending_id=None, reverses=None,
                                  timeout_ms=None, at_us=row[13], debit_after=-1250, credit_after=1250,
                                  hash="", number=7))
    assert transfer_hash(previous, [*row, expected]) == expected
    legacy = link(previous, Row(*row, hash=""))  # in the legacy chain, the seq
    assert transfer_hash(previous, [*row, legacy]) == legacy
