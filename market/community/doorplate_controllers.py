"""Doorplates (数字门牌) over the API: an admin prints and reissues a household's plate and sets the
community's 民声 hotline; anyone may read what a scanned plate shows a stranger.

- ``GET /api/households/{id}/doorplate.pdf`` (admin): the household's A6 plate.
- ``POST /api/households/{id}/doorplate/reissue`` (admin): a new plate; the old one is refused.
- ``GET /api/doorplates/{token}`` (public): the community, its public address, the household's
  address and the hotline; 410 ``plate_revoked`` for a reissued plate.
- ``GET /api/community/hotline`` (any of the community's four roles) and ``PUT`` (admin).
"""

import asyncio
from typing import Annotated

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ROLES
from market.auth.sessions import Principal
from market.community import doorplates
from market.community.schemas import Hotline, HotlineRequest, PlateView, ReissuedPlate
from market.settings import Settings

NO_STORE = {"Cache-Control": "no-store"}


class DoorplateController(Controller):
    path = "/households"
    tags = ("doorplates",)
    guards = (requires_role(ADMIN),)

    @get("/{household_id:int}/doorplate.pdf", media_type="application/pdf", opt={"problems": (409,)},
         summary="The household's doorplate (数字门牌, A6 PDF) with its QR")
    async def pdf(
        self, request: Request, household_id: FromPath[int], me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[bytes]:
        plate = await doorplates.plate(me.community_id, household_id, settings=settings,
                                       request_base=str(request.base_url))
        # Imported on the first plate, not at start-up: reportlab takes ~0.1 s to load.
        from market.community.doorplate_pdf import render_pdf

        data = await asyncio.to_thread(render_pdf, plate)
        return Response(data, media_type="application/pdf", headers={
            **NO_STORE, "Content-Disposition": f'attachment; filename="doorplate-{household_id}.pdf"',
        })

    @post("/{household_id:int}/doorplate/reissue", status_code=200,
          summary="Reissue the household's doorplate: the old plate's code is refused from now on")
    async def reissue(self, household_id: FromPath[int], me: NamedDependency[Principal]) -> ReissuedPlate:
        version = await doorplates.reissue(me.community_id, household_id, actor_id=me.id)
        return ReissuedPlate(household_id=household_id, version=version)


class ScannedPlateController(Controller):
    path = "/doorplates"
    tags = ("doorplates",)

    @get("/{token:str}", opt={"public": True, "problems": (410,)},
         summary="What a scanned doorplate shows anyone (public): community, address, hotline")
    async def show(
        self, token: Annotated[str, PathParameter(min_length=1, max_length=doorplates.MAX_TOKEN)],
        settings: NamedDependency[Settings],
    ) -> PlateView:
        found = await doorplates.scanned(settings, token)
        return PlateView(community=found.community, slug=found.slug, address=found.address,
                         hotline=found.hotline)


class HotlineController(Controller):
    path = "/community/hotline"
    tags = ("doorplates",)

    @get("/", guards=[requires_role(*ROLES)],
         summary="The community's 民声 hotline (null until the office sets it)")
    async def show(self, me: NamedDependency[Principal]) -> Hotline:
        return Hotline(hotline=await doorplates.hotline(me.community_id))

    @put("/", guards=[requires_role(ADMIN)], summary="Set the community's 民声 hotline (\"\" clears it)")
    async def change(self, data: JSONBody[HotlineRequest], me: NamedDependency[Principal]) -> Hotline:
        return Hotline(hotline=await doorplates.set_hotline(me.community_id, data.hotline, actor_id=me.id))


DOORPLATE_CONTROLLERS = (DoorplateController, ScannedPlateController, HotlineController)
