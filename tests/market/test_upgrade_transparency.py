"""Every signed checkpoint stays checkable after an upgrade from the release before chains per
community (issue 13), and each community's transparency files carry only its own entries.

On a copy of the release's database (``tests/fixtures/release-f34a2c7.*``: two communities whose
points moved in turns in the one installation-wide chain, and a checkpoint of version 1 of each)
upgraded with ``market migrate``, both communities move points again in turns; the next day's
checkpoints (version 2) are made as ``market transparency checkpoint`` makes them, but at a
moment the test chooses (the release made the old ones today, and there is one per day); then a
real ``market serve`` hands out the files. For each community the checker, copied as one file and
run on its own, passes on the history with ``--legacy`` (the old chain as the old release
published it), which checks the old checkpoint against the old chain and the new chain's origin
against where the old chain ended; it fails when either file lies, even with the community's
own key re-signing the lie.
"""

import asyncio
import copy
import hashlib
import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ledger import Ledger
from market.reports import checkpoint_verify, keys
from market.reports.checkpoint_verify import (
    Invalid,
    checkpoint_text,
    transfer_hash,
    verify_history,
    verify_proof,
)
from market.settings import Settings
from tests.market.test_counter_crash import server_env, start_server
from tests.market.test_upgrade import LEGACY_ENTRIES, MARKET, SECRET, market, release_copy

__all__ = ["release_copy"]  # the fixture, shared with test_upgrade

COMMUNITIES = (1, 2)
TURNS = 3
#: ``market transparency checkpoint`` at noon (Beijing) of the day after the newest checkpoint.
NEXT_DAY = """
import asyncio
from datetime import datetime, timedelta
from market.db import fetch, migrate
from market.reports.checkpoint_service import CHINA, checkpoint_all
from market.settings import get_settings

async def main():
    await migrate()
    (newest,) = await fetch("SELECT MAX(day) AS day FROM transparency_checkpoint")
    noon = datetime.fromisoformat(newest["day"]).replace(hour=12, tzinfo=CHINA) + timedelta(days=1)
    for made in await checkpoint_all(get_settings(), noon):
        print(made.community_id, made.version, made.hash)

asyncio.run(main())
"""


def _key(url: str, community: int) -> str:
    return keys.public_key_hex(Settings(database_url=url, secret_key=SECRET), community)


def _check(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The checker as a resident runs it: the one file, copied, with nothing of the project."""
    return subprocess.run([sys.executable, "-I", str(cwd / "checkpoint_verify.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


async def _move_in_turns(url: str) -> dict[int, list[str]]:
    async with Ledger.from_url(url) as ledger:
        moved: dict[int, list[str]] = {c: [] for c in COMMUNITIES}
        for turn in range(TURNS):
            for community in COMMUNITIES:
                issuance = await ledger.account_id(community, "issuance")
                wallet = await ledger.account_id(community, "wallet", str(2 + community))
                made = await ledger.transfer(
                    f"after-{community}-{turn}", issuance, wallet, "1.50", "adjustment",
                    memo=f"升级后-{community}-{turn}", ledger=community)
                moved[community].append(made.id)
        return moved


async def test_every_checkpoint_stays_checkable_after_the_upgrade(release_copy: str, tmp_path: Path):
    migrated = await asyncio.to_thread(market, release_copy, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    moved = await _move_in_turns(release_copy)
    env = server_env(release_copy, SECRET)
    shutil.copy(checkpoint_verify.__file__, tmp_path / "checkpoint_verify.py")

    process, url = await start_server(env, tmp_path, 0)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            # Until the next day's checkpoint, the newest is the old one, and it still holds.
            before = await client.get("/transparency", params={"community": 2})
            assert f"截至升级前共用账本链的第 {LEGACY_ENTRIES} 笔" in before.text
            assert "签名有效；账本与签名时一致。" in before.text

            made = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", NEXT_DAY], env=env,
                                           capture_output=True, text=True, timeout=120)
            assert made.returncode == 0, made.stderr
            assert sorted(line.split()[:2] for line in made.stdout.splitlines()) == [["1", "2"], ["2", "2"]]
            listed = (await client.get("/api/transparency/checkpoints", params={"community": 1})).json()
            new, old = listed["items"]
            assert {"head_number", "genesis"} <= set(new) and "head_seq" not in new
            assert old["head_seq"] == LEGACY_ENTRIES and not {"head_number", "genesis"} & set(old)

            files = {c: await _files_of(client, c, tmp_path) for c in COMMUNITIES}
            for community in COMMUNITIES:
                await _check_community(client, release_copy, community, files, moved, tmp_path)
            page = await client.get("/transparency", params={"community": 1})
            assert page.status_code == 200, page.text
            assert "/api/transparency/legacy.json?community=1" in page.text
            assert "--legacy legacy-1.json" in page.text
            assert f"本社区的账本链从它的第 {LEGACY_ENTRIES} 笔接续" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(process.wait, 15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _files_of(client: httpx.AsyncClient, community: int, where: Path) -> dict:
    """The community's history and legacy download, as served and as saved."""
    found = {}
    for name in ("checkpoints", "legacy"):
        response = await client.get(f"/api/transparency/{name}.json", params={"community": community})
        assert response.status_code == 200, response.text
        (where / f"{name}-{community}.json").write_bytes(response.content)
        found[name] = json.loads(response.content)
        found[f"{name}_text"] = response.content.decode()
    return found


async def _check_community(
    client: httpx.AsyncClient, url: str, community: int, files: dict, moved: dict, tmp_path: Path
) -> None:
    other = 3 - community
    history, legacy = files[community]["checkpoints"], files[community]["legacy"]
    key = _key(url, community)
    assert history["public_key"] == legacy["public_key"] == key

    # The old checkpoint stays as it was, and the new one follows it.
    old, new = history["checkpoints"]
    assert (old["version"], new["version"]) == (1, 2) and new["previous"] == old["hash"]
    assert old["head_seq"] == LEGACY_ENTRIES and new["genesis"] == history["genesis"]
    assert json.loads(history["origin"])["legacy"]["seq"] == LEGACY_ENTRIES

    # The history holds the community's own chain only: its entries since the upgrade.
    rows = history["transfers"]
    assert {row[2] for row in rows} == {community}
    assert [row[0] for row in rows] == list(range(1, new["head_number"] + 1))
    assert set(moved[community]) <= {row[1] for row in rows}
    text = files[community]["checkpoints_text"]
    assert not any(id_ in text for id_ in moved[other]) and f"升级后-{other}" not in text
    their_legacy = [row for row in files[other]["legacy"]["transfers"] if row[2] == other]
    assert their_legacy and not any(row[1] in text for row in their_legacy)
    # The legacy file is the old chain as published before: every community's entries of then.
    assert legacy["format"] == checkpoint_verify.LEGACY_FORMAT and legacy["checkpoints"] == [old]
    assert [row[0] for row in legacy["transfers"]] == list(range(1, LEGACY_ENTRIES + 1))
    assert {row[2] for row in legacy["transfers"]} == {1, 2}

    history_file, legacy_file = (str(tmp_path / f"{n}-{community}.json") for n in ("checkpoints", "legacy"))
    mine_before = next(row for row in legacy["transfers"] if row[2] == community)
    done = await asyncio.to_thread(_check, history_file, "--public-key", key, "--legacy", legacy_file,
                                   "--transfer", mine_before[1], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"legacy chain: {LEGACY_ENTRIES} transfers checked" in done.stdout
    assert f"transfer {mine_before[1]} is entry {mine_before[0]}, covered by the checkpoint of" in done.stdout
    command = await asyncio.to_thread(
        subprocess.run, [MARKET, "transparency", "verify", history_file, "--public-key", key, "--legacy",
                         legacy_file], capture_output=True, text=True, timeout=60)
    assert command.returncode == 0 and "legacy chain:" in command.stdout, command.stderr
    alone = await asyncio.to_thread(_check, history_file, "--public-key", key, cwd=tmp_path)
    assert alone.returncode == 0 and "check them with --legacy FILE" in alone.stdout, alone.stderr
    # The legacy file alone checks as a history of the old release always did.
    old_style = await asyncio.to_thread(_check, legacy_file, "--public-key", key, cwd=tmp_path)
    assert old_style.returncode == 0, old_style.stderr
    # Another community's legacy file does not lead to this chain.
    wrong = str(tmp_path / f"legacy-{other}.json")
    done = await asyncio.to_thread(_check, history_file, "--public-key", key, "--legacy", wrong, cwd=tmp_path)
    assert done.returncode == 1 and "FAILED" in done.stderr

    # Proofs: an entry of the community's chain, and one of the legacy chain (which says so).
    proof = (await client.get("/api/transparency/proof",
                              params={"community": community, "transfer": moved[community][0]})).json()
    assert proof["status"] == "ok"
    assert proof["number"] == next(r[0] for r in rows if r[1] == moved[community][0])
    verify_proof(proof, key)
    before = (await client.get("/api/transparency/proof",
                               params={"community": community, "transfer": mine_before[1]})).json()
    assert before["status"] == "legacy" and before["number"] is None
    assert before["legacy_seq"] == mine_before[0]
    assert before["legacy_download"] == f"/api/transparency/legacy.json?community={community}"
    with pytest.raises(Invalid, match="legacy chain"):
        verify_proof(before, key)
    page = await client.get("/transparency", params={"community": community, "transfer": mine_before[1]},
                            headers={"Accept-Language": "en"})
    assert f"This is entry {mine_before[0]} of the shared chain of before the upgrade" in page.text

    if community == 1:
        _lies_are_found(history, legacy, key, Settings(database_url=url, secret_key=SECRET))


def _lies_are_found(history: dict, legacy: dict, key: str, settings: Settings) -> None:
    verify_history(history, key, legacy=legacy)

    # An old transfer changed, with every hash after it recomputed: the old checkpoint's head.
    def rewritten(d: dict) -> None:
        rows = d["transfers"]
        rows[4][8] = "改过的"
        previous = rows[3][16]
        for row in rows[4:]:
            row[16] = transfer_hash(previous, row)
            previous = row[16]

    forged = copy.deepcopy(legacy)
    rewritten(forged)
    with pytest.raises(Invalid, match=r"in the legacy file: the checkpoint of .* with another hash"):
        verify_history(history, key, legacy=forged)
    # A legacy file cut before where the chain begins.
    short = copy.deepcopy(legacy)
    short["transfers"].pop()
    with pytest.raises(Invalid, match="in the legacy file: the transfers stop at"):
        verify_history(history, key, legacy=short)

    # The server itself lies about the opening balances: two accounts that never move get ±100
    # in the origin, the chain is rehashed from the new genesis and the new checkpoint re-signed
    # with the community's own key. Alone the history checks out (the replay from that origin
    # is self-consistent); with the legacy chain it does not.
    lie = copy.deepcopy(history)
    origin = json.loads(lie["origin"])
    origin["accounts"] |= {"999998": [-10000, 0], "999999": [10000, 0]}
    lie["origin"] = json.dumps(origin, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    lie["genesis"] = hashlib.sha256(lie["origin"].encode()).hexdigest()
    previous = lie["genesis"]
    for row in lie["transfers"]:
        row[16] = transfer_hash(previous, row)
        previous = row[16]
    signed = lie["checkpoints"][1]
    signed |= {"genesis": lie["genesis"], "head_hash": previous}
    text = checkpoint_text(signed)
    signed |= {"hash": hashlib.sha256(text).hexdigest(),
               "signature": keys.signing_key(settings, 1).sign(text).hex()}
    verify_history(lie, key)
    with pytest.raises(Invalid, match=f"balances at legacy entry {LEGACY_ENTRIES} are not the origin's"):
        verify_history(lie, key, legacy=legacy)
