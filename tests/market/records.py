"""Cheap records for access tests: people, structure and sessions written straight to the tables.

No hashing and no API round trip, so a test can make a fresh target for every
request it sends. ``bearer_client`` signs a person in by minting a session row.
"""

import secrets
from datetime import UTC, datetime, timedelta

import httpx
from litestar import Litestar

from market.auth.middleware import SESSION_COOKIE
from market.auth.roles import encode_roles
from market.auth.sessions import token_hash
from market.db import fetch, is_unique_violation
from market.people.rules import new_card_no
from market.tables import (
    Building,
    Compound,
    Grid,
    Household,
    Order,
    OrderLine,
    Person,
    Product,
    Redemption,
    RedemptionLine,
    Session,
    Team,
)
from tests.market.support import client_for, random_phone


async def saved_person(**fields: object) -> Person:
    """A person row with a fresh card number, saved. Card numbers are random and unique across
    the installation, and a suite enrols some 20,000 people: two draws of the 9×10⁸ numbers can
    meet (they did, in a full run). Another draw then, as ``create_person`` does."""
    for _attempt in range(5):
        row = Person(**fields, card_no=new_card_no())
        try:
            await row.save()
            return row
        except Exception as error:
            if not is_unique_violation(error):
                raise
    raise AssertionError(f"five unique violations in a row saving a person: {fields}")


async def person(community_id: int, *roles: str, phone: str | None = None) -> int:
    row = await saved_person(
        community=community_id, name=f"测试{secrets.token_hex(2)}", phone=phone or random_phone(),
        roles=encode_roles(roles or ("resident",)),
    )
    return row.id


async def compound(community_id: int) -> int:
    row = Compound(community=community_id, name=f"小区{secrets.token_hex(4)}")
    await row.save()
    return row.id


async def building(community_id: int) -> int:
    row = Building(community=community_id, compound=await compound(community_id),
                   name=f"{secrets.randbelow(99)}栋{secrets.token_hex(3)}")
    await row.save()
    return row.id


async def grid(community_id: int) -> int:
    row = Grid(community=community_id, name=f"网格{secrets.token_hex(4)}")
    await row.save()
    return row.id


async def household(community_id: int) -> int:
    row = Household(community=community_id, building=await building(community_id),
                    unit="1", room=str(secrets.randbelow(10**6)), grid=await grid(community_id))
    await row.save()
    return row.id


async def team(community_id: int) -> int:
    row = Team(community=community_id, name=f"志愿队{secrets.token_hex(4)}")
    await row.save()
    return row.id


async def product(community_id: int) -> int:
    """An active product of the shop with no stock (so no stock movement is owed)."""
    row = Product(community=community_id, name=f"商品{secrets.token_hex(4)}", price=100)
    await row.save()
    return row.id


async def redemption(community_id: int) -> int:
    """A redemption row with one line (no ledger transfer behind it: for access tests only)."""
    buyer, keeper = await person(community_id), await person(community_id, "shopkeeper")
    row = Redemption(community=community_id, person=buyer, keeper=keeper, key=secrets.token_hex(8),
                     request_hash="0" * 64, total=100, transfer_id=f"rec-{secrets.token_hex(8)}",
                     balance_after=0)
    await row.save()
    await RedemptionLine(redemption=row.id, product=await product(community_id), quantity=1,
                         unit_price=100).save()
    return row.id


async def order(community_id: int) -> int:
    """A reserved order row with one line (no hold behind it: for access tests only)."""
    now = datetime.now(UTC)
    row = Order(community=community_id, person=await person(community_id), total=100,
                hold_id=f"rec-{secrets.token_hex(8)}", request_hash="0" * 64,
                expires_at=now + timedelta(days=365), created_at=now)  # never due in a sweep
    await row.save()
    await OrderLine(order=row.id, product=await product(community_id), quantity=1, unit_price=100).save()
    return row.id


async def delegate_link(community_id: int) -> int:
    """An open delegate (代办) link between two new residents."""
    from market.db import fetch

    elder, delegate = await person(community_id, "resident"), await person(community_id, "resident")
    (row,) = await fetch(
        "INSERT INTO delegate (community, elder, delegate, linked_by, linked_ms) VALUES ({}, {}, {}, {}, {})"
        " RETURNING id", community_id, elder, delegate, elder, 0)
    return row["id"]


async def help_request(community_id: int, body: str = "帮忙换灯泡") -> int:
    """An open 民声 request of a new resident, seen by the whole community."""
    requester = await person(community_id, "resident")
    (row,) = await fetch(
        "INSERT INTO help_request (community, requester, posted_by, category, visibility, body, state,"
        " posted_us, open_since_us) VALUES ({}, {}, {}, 'repair', 'community', {}, 'open', 0, 0)"
        " RETURNING id",
        community_id, requester, requester, body)
    return row["id"]


async def session_token(person_id: int) -> tuple[str, str]:
    """A fresh (token, csrf token) for the person, as a sign-in would give."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    await Session(token_hash=token_hash(token), person=person_id, csrf_token=csrf,
                  created_at=now, expires_at=now + timedelta(hours=1)).save()
    return token, csrf


async def bearer_client(app: Litestar, person_id: int) -> httpx.AsyncClient:
    token, _ = await session_token(person_id)
    return client_for(app, headers={"Authorization": f"Bearer {token}"})


async def cookie_client(app: Litestar, person_id: int) -> tuple[httpx.AsyncClient, str]:
    """A browser-like client (session cookie) and its CSRF token."""
    token, csrf = await session_token(person_id)
    client = client_for(app)
    client.cookies.set(SESSION_COOKIE, token)
    return client, csrf
