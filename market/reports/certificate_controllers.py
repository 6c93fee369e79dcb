"""The certificates' API: the PDF (a resident's own, an admin's or organizer's of a person), the
public check of a certificate's QR token, the national format's identity and issuing office, and
corrections (what each route does: ``market.reports.certificates``)."""


from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.constraints import DAY
from market.privacy import identity as identities
from market.privacy.schemas import IdentityChange, IdentityView
from market.reports import certificate_office as office
from market.reports import certificate_records as records
from market.reports.certificates import NO_STORE, answer_of, pdf_response
from market.reports.schemas import (
    CertificateCheck,
    CorrectionDecision,
    CorrectionList,
    CorrectionView,
    NewCorrection,
    OfficeChange,
    OfficeView,
)
from market.settings import Settings


class MyCertificateController(Controller):
    path = "/me"
    tags = ("certificates",)

    @get("/certificate.pdf", media_type="application/pdf",
         guards=[requires_role(RESIDENT)], opt={"problems": (409,)},
         summary="My volunteer service certificate (PDF, signed, with a verification QR)")
    async def mine(
        self, request: Request, me: NamedDependency[Principal], settings: NamedDependency[Settings],
        start: Annotated[str | None, QueryParameter(name="from", max_length=10, schema_extra=DAY)] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=10, schema_extra=DAY)] = None,
        full_identity: Annotated[bool, QueryParameter(
            description="Print my ID number in full (masked by default)")] = False,
    ) -> Response[bytes]:
        return await pdf_response(settings, request, me.community_id, me.id, start, end,
                                  full_identity=full_identity, actor_id=me.id)

    @get("/identity", guards=[requires_role(RESIDENT)],
         summary="My ID document and volunteer number (masked)")
    async def my_identity(self, me: NamedDependency[Principal]) -> Response[IdentityView]:
        return Response(await identities.view(me.community_id, me.id), headers=NO_STORE)

    @put("/identity", guards=[requires_role(RESIDENT)],
         summary="Record my ID document and volunteer number for certificates (empty clears)")
    async def set_my_identity(self, data: JSONBody[IdentityChange], me: NamedDependency[Principal]
                              ) -> Response[IdentityView]:
        found = await identities.record(me.community_id, me.id, me.id, data)
        return Response(found, headers=NO_STORE)

    @get("/certificate-corrections", guards=[requires_role(RESIDENT)],
         summary="My requests to correct a certificate or record, newest first")
    async def my_corrections(self, me: NamedDependency[Principal]) -> CorrectionList:
        return await office.of_person(me.community_id, me.id)


class PersonCertificateController(Controller):
    path = "/people/{person_id:int}"
    tags = ("certificates",)

    @get("/certificate.pdf", media_type="application/pdf",
         guards=[requires_role(ADMIN, ORGANIZER)], opt={"problems": (409,)},
         summary="A person's volunteer service certificate (PDF)")
    async def theirs(
        self, request: Request, person_id: FromPath[int], me: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        start: Annotated[str | None, QueryParameter(name="from", max_length=10, schema_extra=DAY)] = None,
        end: Annotated[str | None, QueryParameter(name="to", max_length=10, schema_extra=DAY)] = None,
    ) -> Response[bytes]:
        # ``compute`` finds the person only in the caller's community: anyone else is a 404.
        return await pdf_response(settings, request, me.community_id, person_id, start, end)

    @get("/identity", guards=[requires_role(ADMIN)],
         summary="A person's ID document and volunteer number (masked)")
    async def identity(self, person_id: FromPath[int], me: NamedDependency[Principal]
                       ) -> Response[IdentityView]:
        return Response(await identities.view(me.community_id, person_id), headers=NO_STORE)

    @put("/identity", guards=[requires_role(ADMIN)],
         summary="Record a person's ID document and volunteer number (audited; empty clears)")
    async def set_identity(self, person_id: FromPath[int], data: JSONBody[IdentityChange],
                           me: NamedDependency[Principal]) -> Response[IdentityView]:
        return Response(await identities.record(me.community_id, me.id, person_id, data), headers=NO_STORE)


class CertificateOfficeController(Controller):
    path = "/certificates"
    tags = ("certificates",)

    @get("/office", guards=[requires_role(ADMIN)],
         summary="Who issues the community's certificates: 负责人, 经办人, contact phone")
    async def office(self, me: NamedDependency[Principal]) -> OfficeView:
        return await office.office_of(me.community_id)

    @put("/office", guards=[requires_role(ADMIN)], summary="Set who issues the community's certificates")
    async def set_office(self, data: JSONBody[OfficeChange], me: NamedDependency[Principal]) -> OfficeView:
        return await office.set_office(me, data)

    @post("/corrections", guards=[requires_role(RESIDENT)], opt={"problems": (409,)},
          summary="Ask the office to correct my certificate or record")
    async def ask(self, data: JSONBody[NewCorrection], me: NamedDependency[Principal]) -> CorrectionView:
        return await office.ask(me, data)

    @get("/corrections", guards=[requires_role(ADMIN)],
         summary="The office's correction requests: open ones oldest first")
    async def corrections(
        self, me: NamedDependency[Principal],
        status: Annotated[Literal["open", "accepted", "rejected"] | None, QueryParameter()] = "open",
    ) -> CorrectionList:
        return await office.list_corrections(me.community_id, status)

    @post("/corrections/{correction_id:int}/decision", guards=[requires_role(ADMIN)], status_code=200,
          opt={"problems": (409,)},
          summary="Accept (optional note) or reject (reason required) an open request; moves no points")
    async def decide(self, correction_id: FromPath[int], data: JSONBody[CorrectionDecision],
                     me: NamedDependency[Principal]) -> CorrectionView:
        return await office.decide(me, correction_id, data)


class VerifyController(Controller):
    path = "/certificates"
    tags = ("certificates",)

    @get("/verify/{token:str}", opt={"public": True}, summary="Check a certificate's QR token",
         responses={404: ResponseSpec(CertificateCheck, description="Not a certificate of ours (forged, "
                                      "altered or garbage): the same check, status invalid")})
    async def verify(self, token: FromPath[str], settings: NamedDependency[Settings]) -> Response[
            CertificateCheck]:
        found = await records.check(settings, token[:400])
        # 404 for a token that is not a certificate of ours (forged, altered or garbage): there is
        # no such certificate. A genuine one is 200, whether its records still match or not.
        return Response(answer_of(found), headers=NO_STORE,
                        status_code=404 if found.status == "invalid" else 200)


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [MyCertificateController, PersonCertificateController, CertificateOfficeController,
             VerifyController]
