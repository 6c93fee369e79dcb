"""Subdistricts (街道): an office's group of communities, and whether points travel between them.

A community belongs to at most one subdistrict. With ``shared_redemption`` (通存通兑) on, a resident
of any of its communities may redeem at any of its shops (``market.shop.counter``); each community
keeps its own ledger chain, and the points cross through the pair's clearing accounts
(``ledger.crossing``). The subdistrict's admins (role ``subdistrict_admin``, a row in
``subdistrict_admin``) see across its communities and act inside none of them.

``create`` is what ``market subdistrict create`` runs: idempotent by name, it adds communities and
sets sharing when asked. ``update`` is the admins' ``PUT``: name, sharing, and communities that
belong to no other subdistrict.
"""

import logging
from itertools import combinations
from typing import NamedTuple

import msgspec

from ledger import Account, Ledger
from market import audit, clock
from market.auth.sessions import Principal
from market.community import slugs
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, NotFound
from market.subdistricts.rules import MAX_NAME
from market.subdistricts.schemas import CommunityRef, SubdistrictList, SubdistrictUpdate, SubdistrictView
from market.writes import Steps, write

log = logging.getLogger(__name__)



def clean_name(typed: str) -> str:
    name = " ".join(str(typed).split())
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput("invalid_subdistrict_name", field="name")
    return name


async def _ref(row: dict) -> CommunityRef:
    """A community read with its name and slug (a slug given now to one founded by hand)."""
    slug = row["slug"] or await slugs.assign_default(row["id"], row["name"])
    return CommunityRef(id=row["id"], name=row["name"], slug=slug)


async def get(subdistrict_id: int) -> SubdistrictView:
    rows = await fetch("SELECT id, name, shared_redemption FROM subdistrict WHERE id = {}", subdistrict_id)
    if not rows:
        raise NotFound()
    # One read for every community (a town's subdistrict has hundreds), not one each.
    members = await fetch(
        "SELECT c.id, c.name, c.slug FROM subdistrict_community m JOIN community c ON c.id = m.community"
        " WHERE m.subdistrict = {} ORDER BY c.id",
        subdistrict_id,
    )
    row = rows[0]
    return SubdistrictView(
        id=row["id"], name=row["name"], shared_redemption=bool(row["shared_redemption"]),
        communities=[await _ref(member) for member in members],
    )


async def administered_by(me: Principal) -> SubdistrictList:
    """The subdistricts ``me`` administers (at most one today)."""
    rows = await fetch("SELECT subdistrict FROM subdistrict_admin WHERE person = {} ORDER BY subdistrict",
                       me.id)
    return SubdistrictList(items=[await get(row["subdistrict"]) for row in rows])


async def check_admin(me: Principal, subdistrict_id: int) -> None:
    """404 unless ``me`` administers the subdistrict: another office's subdistrict is not there."""
    if not await fetch("SELECT 1 AS x FROM subdistrict_admin WHERE person = {} AND subdistrict = {}",
                       me.id, subdistrict_id):
        raise NotFound()


async def community_ids(subdistrict_id: int) -> list[int]:
    rows = await fetch("SELECT community FROM subdistrict_community WHERE subdistrict = {}"
                       " ORDER BY community", subdistrict_id)
    return [row["community"] for row in rows]


async def sharing(home: int, shop: int) -> bool | None:
    """Whether a resident of ``home`` may redeem at ``shop``'s counter: None when the two are not
    in one subdistrict, else whether that subdistrict has turned 通存通兑 on."""
    rows = await fetch(
        "SELECT s.shared_redemption FROM subdistrict_community a"
        " JOIN subdistrict_community b ON b.subdistrict = a.subdistrict"
        " JOIN subdistrict s ON s.id = a.subdistrict WHERE a.community = {} AND b.community = {}",
        home, shop,
    )
    return bool(rows[0]["shared_redemption"]) if rows else None


async def _existing_communities(ids: list[int]) -> list[int]:
    unique = sorted(set(ids))
    if not unique:
        return []
    if any(isinstance(i, bool) or not isinstance(i, int) or i <= 0 for i in unique):
        raise InvalidInput("invalid", field="communities")
    marks = ", ".join("{}" for _ in unique)
    found = {row["id"] for row in await fetch(f"SELECT id FROM community WHERE id IN ({marks})", *unique)}
    if missing := [i for i in unique if i not in found]:
        raise NotFound(field="communities", community_id=missing[0])
    return unique


def _group_steps(
    subdistrict_id: int | None, name: str | None, shared: bool | None, communities: list[int] | None,
    *, replace: bool, actor: tuple[int, int] | None,
) -> Steps[int]:
    """Found (``subdistrict_id`` None) or change a subdistrict, and add (or, with ``replace``, set)
    its communities. A community already in another subdistrict is refused (409): leaving one is
    its office's decision, never a side effect."""
    now = clock.now_ms()
    if subdistrict_id is None:
        found = yield ("SELECT id FROM subdistrict WHERE name = {}", (name,))
        if found:
            subdistrict_id = found[0]["id"]
        else:
            (row,) = yield (
                "INSERT INTO subdistrict (name, shared_redemption, created_ms, updated_ms)"
                " VALUES ({}, {}, {}, {}) RETURNING id",
                (name, bool(shared), now, now),
            )
            subdistrict_id = row["id"]
    elif not (yield ("SELECT id FROM subdistrict WHERE id = {}", (subdistrict_id,))):
        raise NotFound()
    if name is not None:
        yield ("UPDATE subdistrict SET name = {}, updated_ms = {} WHERE id = {}", (name, now, subdistrict_id))
    if shared is not None:
        yield ("UPDATE subdistrict SET shared_redemption = {}, updated_ms = {} WHERE id = {}",
               (shared, now, subdistrict_id))
    if communities is not None:
        if communities:
            marks = ", ".join("{}" for _ in communities)
            elsewhere = yield (
                f"SELECT community FROM subdistrict_community WHERE community IN ({marks})"
                " AND subdistrict <> {} ORDER BY community",
                (*communities, subdistrict_id),
            )
            if elsewhere:
                raise Conflict("community_in_other_subdistrict", field="communities",
                               community_id=elsewhere[0]["community"])
        present = {row["community"] for row in (yield (
            "SELECT community FROM subdistrict_community WHERE subdistrict = {}", (subdistrict_id,)))}
        for community in communities:
            if community not in present:
                yield ("INSERT INTO subdistrict_community (community, subdistrict, joined_ms)"
                       " VALUES ({}, {}, {})", (community, subdistrict_id, now))
        if replace:
            for community in sorted(present - set(communities)):
                yield ("DELETE FROM subdistrict_community WHERE community = {} AND subdistrict = {}",
                       (community, subdistrict_id))
    if actor is not None:
        community_id, person_id = actor
        yield audit.entry(community_id, person_id, "subdistrict_changed", f"subdistrict:{subdistrict_id}")
    return subdistrict_id


async def create(name: str, communities: list[int], shared: bool | None = None) -> SubdistrictView:
    """Group ``communities`` under the subdistrict called ``name`` (founded if need be); with
    ``shared`` given, turn 通存通兑 on or off. The same call again changes nothing."""
    name = clean_name(name)
    ids = await _existing_communities(communities)
    try:
        subdistrict_id = await write(_group_steps, None, name, shared, ids, replace=False, actor=None)
    except Exception as error:
        if not is_unique_violation(error):
            raise
        # Founded by another call at the same moment (the name is unique): join theirs.
        subdistrict_id = await write(_group_steps, None, name, shared, ids, replace=False, actor=None)
    log.info("subdistrict %s groups %s communities", subdistrict_id, len(ids))
    return await get(subdistrict_id)


async def update(me: Principal, subdistrict_id: int, data: SubdistrictUpdate) -> SubdistrictView:
    """A subdistrict admin's change (``PUT /api/subdistricts/{id}``). Refusals change nothing."""
    await check_admin(me, subdistrict_id)
    name = None if data.name is None else clean_name(data.name)
    ids = None if data.communities is None else await _existing_communities(data.communities)
    if ids is not None and not ids:
        raise InvalidInput("subdistrict_empty", field="communities")
    try:
        await write(_group_steps, subdistrict_id, name, data.shared_redemption, ids, replace=True,
                    actor=(me.community_id, me.id))
    except Exception as error:
        if not is_unique_violation(error):
            raise
        raise Conflict("subdistrict_name_taken", field="name") from None
    log.info("subdistrict %s changed by person %s", subdistrict_id, me.id)
    return await get(subdistrict_id)


def _admin_steps(subdistrict_id: int, person_id: int) -> Steps[None]:
    taken = yield ("SELECT subdistrict FROM subdistrict_admin WHERE person = {}", (person_id,))
    if taken and taken[0]["subdistrict"] != subdistrict_id:
        raise Conflict("admin_of_other_subdistrict", field="phone")
    if not taken:
        yield ("INSERT INTO subdistrict_admin (person, subdistrict) VALUES ({}, {})",
               (person_id, subdistrict_id))


async def add_admin(subdistrict_id: int, person_id: int) -> None:
    """Make ``person_id`` (who holds the role ``subdistrict_admin``) an admin of the subdistrict."""
    await write(_admin_steps, subdistrict_id, person_id)


class Groupable(msgspec.Struct):
    community: CommunityRef
    member: bool


async def groupable(subdistrict_id: int) -> list[Groupable]:
    """The communities the subdistrict may group: its own and those of no subdistrict, by name."""
    rows = await fetch(
        "SELECT c.id, c.name, c.slug, m.subdistrict FROM community c"
        " LEFT JOIN subdistrict_community m ON m.community = c.id"
        " WHERE m.subdistrict IS NULL OR m.subdistrict = {} ORDER BY c.name, c.id",
        subdistrict_id,
    )
    return [Groupable(await _ref(row), member=row["subdistrict"] is not None) for row in rows]


class ClearingPair(NamedTuple):
    """Two communities with clearing accounts between them: each one's account for the other
    (None when only the other side has one)."""

    first: CommunityRef
    second: CommunityRef
    ours: Account | None
    theirs: Account | None


async def clearing_pairs(ledger: Ledger, view: SubdistrictView) -> list[ClearingPair]:
    """Every pair of the subdistrict's communities that points ever crossed between."""
    pairs = []
    for first, second in combinations(view.communities, 2):
        ours = await ledger.find_account(first.id, "clearing", str(second.id))
        theirs = await ledger.find_account(second.id, "clearing", str(first.id))
        if ours is not None or theirs is not None:
            pairs.append(ClearingPair(first, second, ours, theirs))
    return pairs


async def named(name: str) -> SubdistrictView | None:
    rows = await fetch("SELECT id FROM subdistrict WHERE name = {}", " ".join(name.split()))
    return await get(rows[0]["id"]) if rows else None
