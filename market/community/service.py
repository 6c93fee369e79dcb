"""Finding and founding communities, with the ledger accounts every community needs.

A community's id is also its ledger id. Founding opens its issuance account
(where points come from, allowed below zero), its shop account (where redeemed
points go) and its expiry account (where expired points go).
"""

import msgspec

from ledger import Ledger
from market import clock
from market.db import is_unique_violation
from market.errors import InvalidInput
from market.tables import Community

COMMUNITY_ACCOUNTS = ("issuance", "shop", "expiry")
DEFAULT_NAME = "默认社区"


class CommunityView(msgspec.Struct):
    id: int
    name: str


async def open_ledger_accounts(ledger: Ledger, community_id: int) -> None:
    for kind in COMMUNITY_ACCOUNTS:
        await ledger.open_account(community_id, kind)


async def get_or_create(ledger: Ledger, name: str) -> CommunityView:
    """The community called ``name``, founded if it does not exist yet."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidInput("invalid_name", field="community")
    row = await Community.select(Community.id).where(Community.name == name).first()
    if row is None:
        try:
            await Community.insert(Community(name=name, created_at=clock.now()))
        except Exception as error:
            # Someone else founded it at the same moment: theirs is ours.
            if not is_unique_violation(error):
                raise
        row = await Community.select(Community.id).where(Community.name == name).first()
        assert row is not None
    # Idempotent; also repairs a community whose accounts were never opened.
    await open_ledger_accounts(ledger, row["id"])
    # Its public address (a no-op once it has one); imported here: slugs reads this module.
    from market.community import slugs

    await slugs.assign_default(row["id"], name)
    return CommunityView(id=row["id"], name=name)


async def first() -> CommunityView | None:
    """The oldest community: the default when only one is served."""
    row = await Community.select(Community.id, Community.name).order_by(Community.id).first()
    return None if row is None else CommunityView(id=row["id"], name=row["name"])


async def get(community_id: int) -> CommunityView | None:
    row = await Community.select(Community.id, Community.name).where(
        Community.id == community_id
    ).first()
    return None if row is None else CommunityView(id=row["id"], name=row["name"])


async def named(name: str) -> CommunityView | None:
    """The community called ``name`` (whitespace collapsed), if there is one."""
    name = " ".join(name.split())
    row = await Community.select(Community.id, Community.name).where(Community.name == name).first()
    return None if row is None else CommunityView(id=row["id"], name=row["name"])
