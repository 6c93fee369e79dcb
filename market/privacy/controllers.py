"""/api/people/{id}/phone and /erase (admins), /api/me/export (everyone, their own data)."""

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.privacy import service
from market.privacy.schemas import Erased, MyData, PhoneView

NO_STORE = {"Cache-Control": "no-store"}


class PersonalDataController(Controller):
    path = "/people"
    tags = ("privacy",)
    guards = (requires_role(ADMIN),)

    @get("/{person_id:int}/phone", summary="A person's full phone number (audited)")
    async def phone(
        self, person_id: FromPath[int], me: NamedDependency[Principal]
    ) -> Response[PhoneView]:
        view = await service.unmask_phone(me.community_id, me.id, person_id)
        return Response(view, headers=NO_STORE)

    @post("/{person_id:int}/erase", status_code=200,
          summary="Erase a person's personal data; their points history stays")
    async def erase(self, person_id: FromPath[int], me: NamedDependency[Principal]) -> Erased:
        return await service.erase(me.community_id, me.id, person_id)


class MyDataController(Controller):
    path = "/me"
    tags = ("privacy",)

    @get("/export", summary="Download everything held about the signed-in person")
    async def export(
        self, me: NamedDependency[Principal], ledger: NamedDependency[Ledger]
    ) -> Response[MyData]:
        data = await service.export(ledger, me.community_id, me.id)
        return Response(data, headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="market-data-{me.id}.json"',
        })
