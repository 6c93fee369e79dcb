"""Member codes and cards over HTTP: one's own code, card and PIN; an admin's cards and PINs;
a staff scanner's look-up of a scanned code.

Pictures are drawn off the event loop (``asyncio.to_thread``) and never cached:
a code image is a credential.
"""

import asyncio

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

import qr
from market.auth import access_codes
from market.auth.guards import requires_role
from market.auth.hashing import SecretHasher
from market.auth.limiter import LoginLimiter
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT, SHOPKEEPER
from market.auth.sessions import Principal
from market.cards import service
from market.cards.picture import render_card
from market.cards.schemas import (
    CardView,
    ChangePinRequest,
    MemberCode,
    ScannedMember,
    ScanRequest,
    SetPinRequest,
)
from market.people import delegates
from market.people.delegates import DELEGABLE
from market.settings import Settings

NO_STORE = {"Cache-Control": "no-store"}


def _png(data: bytes) -> Response[bytes]:
    return Response(data, media_type="image/png", headers=NO_STORE)


class MyCodeController(Controller):
    path = "/me"
    tags = ("member codes",)

    @get("/code", guards=[requires_role(RESIDENT)], summary="My rotating member code", opt=DELEGABLE,
         description="With `extended=true`, a longer code (长辈版: more time at the counter), "
                     "accepted for 5 minutes instead of 30–60 seconds; never longer.")
    async def code(
        self, me: NamedDependency[Principal], settings: NamedDependency[Settings],
        extended: FromQuery[bool] = False,
    ) -> Response[MemberCode]:
        await delegates.record_code_shown(me)
        return Response(service.member_code(settings, me.id, extended=extended), headers=NO_STORE)

    @get("/code.png", media_type="image/png", opt=DELEGABLE,
         guards=[requires_role(RESIDENT)], summary="My rotating member code as a QR")
    async def code_png(
        self, me: NamedDependency[Principal], settings: NamedDependency[Settings],
        extended: FromQuery[bool] = False,
    ) -> Response[bytes]:
        await delegates.record_code_shown(me)
        code = service.member_code(settings, me.id, extended=extended)
        return _png(await asyncio.to_thread(qr.png, code.code))

    @get("/card.png", media_type="image/png", guards=[requires_role(RESIDENT)], opt={"problems": (409,)},
         summary="My printable member card")
    async def card_png(
        self, me: NamedDependency[Principal], settings: NamedDependency[Settings]
    ) -> Response[bytes]:
        card = await service.printable_card(me.community_id, me.id, settings=settings)
        return _png(await asyncio.to_thread(render_card, card))

    @put("/pin", status_code=204, guards=[requires_role(RESIDENT)],
         opt={"problems": (429,), "pin_setup": True}, summary="Change my PIN")
    async def change_pin(
        self,
        data: JSONBody[ChangePinRequest],
        me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
        limiter: NamedDependency[LoginLimiter],
        settings: NamedDependency[Settings],
    ) -> None:
        if me.must_set_pin:
            # Signed in with the office's one-time code: the old PIN (if any) was forgotten,
            # so it is not asked for; the code already proved who this is.
            await access_codes.set_first_pin(
                me.id, me.community_id, me.session_id, data.new_pin,
                hasher=hasher, limiter=limiter, secret_key=settings.secret_key,
            )
            return
        await service.change_my_pin(
            me.id, data.current_pin, data.new_pin,
            hasher=hasher, limiter=limiter, secret_key=settings.secret_key,
        )


class CardAdminController(Controller):
    path = "/people/{person_id:int}"
    tags = ("people",)
    guards = (requires_role(ADMIN),)

    @get("/card.png", media_type="image/png",
         opt={"problems": (409,)}, summary="A resident's printable member card")
    async def card_png(
        self, person_id: FromPath[int], me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        card = await service.printable_card(me.community_id, person_id, settings=settings)
        return _png(await asyncio.to_thread(render_card, card))

    @post("/card/reissue", status_code=200, summary="Reissue a card; the old one stops working")
    async def reissue(self, person_id: FromPath[int], me: NamedDependency[Principal]) -> CardView:
        return await service.reissue_card(me.community_id, person_id, actor_id=me.id)

    @post("/pin", status_code=204, summary="Set or reset a resident's PIN")
    async def set_pin(
        self,
        person_id: FromPath[int],
        data: JSONBody[SetPinRequest],
        me: NamedDependency[Principal],
        hasher: NamedDependency[SecretHasher],
        limiter: NamedDependency[LoginLimiter],
        settings: NamedDependency[Settings],
    ) -> None:
        await service.set_pin(me.community_id, person_id, data.pin, actor_id=me.id, hasher=hasher,
                              limiter=limiter, secret_key=settings.secret_key)


class MemberCodeController(Controller):
    path = "/member-codes"
    tags = ("member codes",)

    @post(
        "/resolve", status_code=200, guards=[requires_role(ORGANIZER, SHOPKEEPER, ADMIN)],
        opt={"problems": (410,)},
        summary="Who a scanned member code or card belongs to",
    )
    async def resolve(
        self, data: JSONBody[ScanRequest], me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> ScannedMember:
        return await service.resolve_member_code(me.community_id, data.member_code, settings=settings)
