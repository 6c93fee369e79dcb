"""Delegates (代办): a family member who acts for an elder — sees the elder's points, shows the
elder's member code, reserves goods for them; never gives points away or changes the elder's PIN.

The office links a delegate (a resident of the same community, often a son or daughter) to an
elder and ends links; a link is ended, never deleted. A request acts for an elder when it says
so — the ``X-Acting-For: <elder's id>`` header — on a route that allows it (``opt=DELEGABLE``):
the guard ``acting_for`` then makes the elder the request's principal and remembers the delegate
(``Principal.delegate_id``). Any other route refuses such a request (403 ``not_delegable``), so a
delegate never does for themselves what they meant to do for the elder, or the reverse. What a
delegate does is kept with both names: the reservation's ``acted_by``, and an audit entry for
each member code shown.
"""

import dataclasses
import logging
from datetime import UTC, datetime

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from market import audit, clock
from market.auth.guards import principal_of
from market.auth.roles import RESIDENT, decode_roles
from market.auth.sessions import Principal
from market.db import fetch, is_unique_violation
from market.errors import Conflict, InvalidInput, MarketError, NotFound
from market.people.rules import mask_phone
from market.people.schemas import DelegateList, DelegateView
from market.writes import Steps, write

log = logging.getLogger(__name__)

ACTING_HEADER = "X-Acting-For"
#: What a route that a delegate may call for an elder declares.
DELEGABLE = {"delegable": True, "problems": (403,)}


class NotDelegable(MarketError):
    status, reason = 403, "not_delegable"


class NotYourElder(MarketError):
    status, reason = 403, "not_your_elder"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _at(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, UTC)


_SELECT = (
    "SELECT d.id, d.elder, e.name AS elder_name, d.delegate, g.name AS delegate_name, d.linked_ms,"
    " d.ended_ms FROM delegate d JOIN person e ON e.id = d.elder JOIN person g ON g.id = d.delegate"
)


def _view(row: dict) -> DelegateView:
    return DelegateView(
        id=row["id"], elder_id=row["elder"], elder_name=row["elder_name"] or "",
        delegate_id=row["delegate"], delegate_name=row["delegate_name"] or "",
        linked_at=_at(row["linked_ms"]), ended_at=_at(row["ended_ms"]),
    )


async def _resident(community_id: int, person_id: int, field: str) -> dict:
    """A resident of the community, not erased; 404 naming ``field`` otherwise."""
    rows = await fetch("SELECT id, roles, erased_at FROM person WHERE id = {} AND community = {}",
                       person_id, community_id)
    if not rows or rows[0]["erased_at"] is not None:
        raise NotFound(field=field)
    if RESIDENT not in decode_roles(rows[0]["roles"]):
        raise InvalidInput("delegate_not_resident", field=field)
    return rows[0]


async def office_heading(community_id: int, person_id: int) -> dict:
    """Who the office's delegates page is about: id, name and masked phone of a person of the
    community, not erased (404 otherwise)."""
    rows = await fetch("SELECT id, name, phone FROM person WHERE id = {} AND community = {}"
                       " AND erased_at IS NULL", person_id, community_id)
    if not rows:
        raise NotFound()
    return {**rows[0], "phone": mask_phone(rows[0]["phone"])}


async def named_by_login(community_id: int, login: str) -> int | None:
    """The person of the community (not erased) whose phone or card number is ``login``."""
    if not login:
        return None
    rows = await fetch("SELECT id FROM person WHERE community = {} AND erased_at IS NULL"
                       " AND (phone = {} OR card_no = {})", community_id, login, login)
    return rows[0]["id"] if rows else None


async def of_elder(community_id: int, elder_id: int) -> DelegateList:
    """The open links of an elder: who may act for them (404 for a person not of the community)."""
    if not await fetch("SELECT id FROM person WHERE id = {} AND community = {}", elder_id, community_id):
        raise NotFound()
    rows = await fetch(f"{_SELECT} WHERE d.community = {{}} AND d.elder = {{}} AND d.ended_ms IS NULL"
                       " ORDER BY d.id", community_id, elder_id)
    return DelegateList(items=[_view(row) for row in rows])


async def elders_of(me: Principal) -> DelegateList:
    """The elders ``me`` may act for (open links)."""
    rows = await fetch(f"{_SELECT} WHERE d.community = {{}} AND d.delegate = {{}} AND d.ended_ms IS NULL"
                       " AND e.erased_at IS NULL ORDER BY d.id", me.community_id, me.id)
    return DelegateList(items=[_view(row) for row in rows])


def _link_steps(me: Principal, elder_id: int, delegate_id: int, at: datetime) -> Steps[int]:
    (row,) = yield (
        "INSERT INTO delegate (community, elder, delegate, linked_by, linked_ms)"
        " VALUES ({}, {}, {}, {}, {}) RETURNING id",
        (me.community_id, elder_id, delegate_id, me.id, _ms(at)),
    )
    yield audit.entry(me.community_id, me.id, "delegate_linked", audit.person_subject(elder_id))
    return row["id"]


async def link(me: Principal, elder_id: int, delegate_id: int) -> DelegateView:
    """The office links ``delegate_id`` to act for ``elder_id``. Refusals change nothing."""
    if elder_id == delegate_id:
        raise InvalidInput("delegate_self", field="delegate_id")
    await _resident(me.community_id, elder_id, "person_id")
    await _resident(me.community_id, delegate_id, "delegate_id")
    try:
        link_id = await write(_link_steps, me, elder_id, delegate_id, clock.now())
    except Exception as error:
        if not is_unique_violation(error):
            raise
        raise Conflict("delegate_exists", field="delegate_id") from None
    log.info("delegate link %s: person %s for person %s, by %s", link_id, delegate_id, elder_id, me.id)
    rows = await fetch(f"{_SELECT} WHERE d.id = {{}}", link_id)
    return _view(rows[0])


def _end_steps(me: Principal, elder_id: int, link_id: int, at: datetime) -> Steps[bool]:
    rows = yield (
        "UPDATE delegate SET ended_ms = {}, ended_by = {} WHERE id = {} AND community = {} AND elder = {}"
        " AND ended_ms IS NULL RETURNING id",
        (_ms(at), me.id, link_id, me.community_id, elder_id),
    )
    if not rows:
        return False
    yield audit.entry(me.community_id, me.id, "delegate_ended", audit.person_subject(elder_id))
    return True


async def end(me: Principal, elder_id: int, link_id: int) -> DelegateView:
    """The office ends a link; 404 if it is not an open link of this elder."""
    if not await write(_end_steps, me, elder_id, link_id, clock.now()):
        raise NotFound()
    log.info("delegate link %s ended by %s", link_id, me.id)
    rows = await fetch(f"{_SELECT} WHERE d.id = {{}}", link_id)
    return _view(rows[0])


async def record_code_shown(me: Principal) -> None:
    """A delegate showed the elder's member code: audited with both (the resident's own: nothing)."""
    if me.delegate_id is not None:
        await write(_code_shown_steps, me)


def _code_shown_steps(me: Principal) -> Steps[None]:
    yield audit.entry(me.community_id, me.delegate_id, "member_code_shown_for", audit.person_subject(me.id))


async def acting_principal(me: Principal, elder_id: int) -> Principal:
    """The elder as the request's principal, when ``me`` holds an open link to act for them."""
    rows = await fetch(
        "SELECT e.id, e.name FROM delegate d JOIN person e ON e.id = d.elder WHERE d.delegate = {}"
        " AND d.elder = {} AND d.community = {} AND d.ended_ms IS NULL AND e.erased_at IS NULL",
        me.id, elder_id, me.community_id,
    )
    if not rows or me.delegate_id is not None:
        raise NotYourElder()
    return dataclasses.replace(
        me, id=elder_id, name=rows[0]["name"], roles=frozenset({RESIDENT}), must_set_pin=False,
        delegate_id=me.id,
    )


async def acting_for(connection: ASGIConnection, route_handler: BaseRouteHandler) -> None:
    """The guard: a request naming an elder acts as the elder, on the routes that allow it."""
    wanted = connection.headers.get(ACTING_HEADER)
    if wanted is None:
        return
    me = principal_of(connection)
    if me is None or route_handler.opt.get("public"):
        return
    if not route_handler.opt.get("delegable"):
        raise NotDelegable()
    if not wanted.isascii() or not wanted.isdigit() or not 0 < len(wanted) <= 10 or int(wanted) > 2**31 - 1:
        raise InvalidInput("invalid_input", field=ACTING_HEADER)
    connection.scope["user"] = await acting_principal(me, int(wanted))
