"""The volunteer service certificate (志愿服务记录证明) as a PDF, and its public verification page.

- ``GET /api/me/certificate.pdf`` (a resident, their own) and
  ``GET /api/people/{person_id}/certificate.pdf`` (an admin or organizer of the person's
  community), both with an optional period ``?from=YYYY-MM-DD&to=YYYY-MM-DD``;
  A resident's own certificate shows their ID number in full only with ``?full_identity=1``
  (their choice for that download, audited); every other certificate shows it masked;
- ``GET /api/certificates/verify/{token}`` (public): valid, changed (200) or invalid (404, the
  same JSON), what it certifies, the name masked;
- the national format's other parts (issue 16): ``GET``/``PUT /api/me/identity`` (a resident,
  their own) and ``GET``/``PUT /api/people/{id}/identity`` (admins) — the ID document and
  national volunteer number, always answered masked (``market.privacy.identity``);
  ``GET``/``PUT /api/certificates/office`` (admins: 负责人, 经办人, contact phone);
- corrections: ``POST /api/certificates/corrections`` and ``GET /api/me/certificate-corrections``
  (a resident), ``GET /api/certificates/corrections?status=`` and
  ``POST /api/certificates/corrections/{id}/decision`` (admins) — ``certificate_office``;
- pages: ``/certificate`` (a resident: preview, download, their ID, asking for a correction and
  the answers), ``/admin/certificates`` (admins: the issuing office, recording a resident's ID,
  the correction requests) and ``/verify/{token}`` (public, what the certificate's QR opens).

What a certificate says and how it is signed and checked: ``certificate_records``; the PDF:
``certificate_pdf``. Certificates are not stored: the token is self-contained and the content
is recomputed from the attendance records as of the moment of issue.
"""

import asyncio
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Redirect, Template

from market import audit
from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.constraints import DAY
from market.errors import MarketError, NotFound
from market.people import service as people
from market.privacy import identity as identities
from market.privacy.identity import ID_TYPES_EN, IdentityChange, IdentityView
from market.reports import certificate_office as office
from market.reports import certificate_records as records
from market.reports.certificate_office import (
    CorrectionDecision,
    CorrectionList,
    CorrectionView,
    NewCorrection,
    OfficeChange,
    OfficeView,
)
from market.reports.certificate_records import CATEGORY_NAMES, Check, Period, mask_name
from market.settings import Settings
from market.web import i18n
from market.web.forms import check_csrf, form_fields, page, page_member

NO_STORE = {"Cache-Control": "no-store"}
PAGE = {"include_in_schema": False}

async def _pdf(settings: Settings, request: Request, community_id: int, person_id: int,
               start: str | None, end: str | None, *, full_identity: bool = False,
               actor_id: int | None = None) -> Response[bytes]:
    """The signed PDF; ``full_identity`` (the holder's own choice only) prints the ID unmasked."""
    period = Period.parse(start, end)
    certificate = await records.issue(settings, community_id, person_id, period)
    url = records.verification_url(settings, str(request.base_url), certificate.token)
    identity = await identities.identity_of(community_id, person_id)
    issuer = await office.office_of(community_id)
    if full_identity and identity.id_number:
        await audit.record_person_action(community_id, actor_id, identities.IDENTITY_SHOWN_IN_FULL, person_id)
    # Imported on the first certificate, not at start-up: reportlab takes ~0.1 s to load.
    from market.reports.certificate_pdf import render_pdf

    data = await asyncio.to_thread(render_pdf, certificate, url, identity=identity, office=issuer,
                                   show_full_id=full_identity)
    filename = f"certificate-{certificate.issued_on.isoformat()}-{person_id}.pdf"
    return Response(data, media_type="application/pdf", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"',
    })


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
        return await _pdf(settings, request, me.community_id, me.id, start, end, full_identity=full_identity,
                          actor_id=me.id)

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
        return await _pdf(settings, request, me.community_id, person_id, start, end)

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


class CertifiedActivity(msgspec.Struct):
    date: str
    title: str
    category: str
    hours: str


class CertificateCheck(msgspec.Struct):
    valid: bool
    status: str
    """"valid": genuine and the records still say the same; "changed": genuine, but the records
    behind it changed since it was issued (nothing of it is confirmed); "invalid": not ours."""
    reason: str
    """"ok", "records_changed", "records_missing", "bad_signature" or "malformed"."""
    number: str | None = None
    name: str | None = None
    """Masked: 张*明."""
    community: str | None = None
    issued_at: str | None = None
    issued_on: str | None = None
    """The date of issue, Beijing time, as printed on the certificate."""
    period_from: str | None = None
    period_to: str | None = None
    total_hours: str | None = None
    """Only when valid."""
    volunteer_hours: str | None = None
    """志愿服务时长: the ``volunteer_service`` activities' hours only; when valid."""
    participation_hours: str | None = None
    """参与时长: every other category's hours; when valid."""
    activities: list[CertifiedActivity] | None = None
    """Only when valid."""
    public_key: str | None = None
    """The community's Ed25519 public key (hex) the signature was checked with."""


def _answer(found: Check) -> CertificateCheck:
    answer = CertificateCheck(valid=found.status == "valid", status=found.status, reason=found.reason,
                              number=found.number, public_key=found.public_key)
    certificate = found.certificate
    if certificate is None:
        return answer
    answer.name = mask_name(certificate.name)
    answer.community = certificate.community
    answer.issued_at = certificate.issued_at.isoformat()
    answer.issued_on = certificate.issued_on.isoformat()
    answer.period_from = certificate.period.start.isoformat() if certificate.period.start else None
    answer.period_to = certificate.period.end.isoformat() if certificate.period.end else None
    if answer.valid:
        answer.total_hours = certificate.total_hours
        answer.volunteer_hours = certificate.volunteer_hours
        answer.participation_hours = certificate.participation_hours
        answer.activities = [
            CertifiedActivity(date=line.day.isoformat(), title=line.title, category=line.category,
                              hours=line.hours)
            for line in certificate.lines
        ]
    return answer


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
        return Response(_answer(found), headers=NO_STORE,
                        status_code=404 if found.status == "invalid" else 200)


API: list = [MyCertificateController, PersonCertificateController, CertificateOfficeController,
             VerifyController]


# -- pages -----------------------------------------------------------------------------------


@get(["/verify/{token:str}", "/VERIFY/{token:str}"], name="web:certificate-verify", **PAGE)
async def verify_page(
    request: Request, token: FromPath[str], settings: NamedDependency[Settings]
) -> Template:
    """What the certificate's QR opens: anyone, no sign-in, names masked."""
    found = await records.check(settings, token[:400])
    answer = _answer(found)
    language = i18n.language_of(request)
    categories = {key: i18n.translate(language, english) for key, english in _CATEGORY_EN.items()}
    return page(request, "reports/certificates/verify.html", check=answer, categories=categories,
                status=200)


#: English names of the categories; the zh catalogue gives back CATEGORY_NAMES' words.
_CATEGORY_EN = {
    "volunteer_service": "Volunteer service",
    "collective_labour": "Collective labour",
    "self_governance": "Self-governance",
}
assert set(_CATEGORY_EN) == set(CATEGORY_NAMES)


def _say(request: Request, error: MarketError) -> str:
    return i18n.error_text(i18n.language_of(request), error.reason,
                           **{"field": error.field or "", **error.params})


def _id_types(language: i18n.Language) -> dict[str, str]:
    """The ID documents offered, in the reader's language (the zh catalogue gives ID_TYPES' words)."""
    return {key: i18n.translate(language, english) for key, english in ID_TYPES_EN.items()}


async def _certificate_page(request: Request, me: Principal, *, status: int = 200,
                            identity_values: dict[str, str] | None = None,
                            identity_problem: str | None = None, identity_field: str | None = None,
                            correction_values: dict[str, str] | None = None,
                            correction_problem: str | None = None) -> Template:
    start = request.query_params.get("from", "")[:10]
    end = request.query_params.get("to", "")[:10]
    language = i18n.language_of(request)
    problem, preview = None, None
    try:
        period = Period.parse(start, end)
        preview = await records.compute(me.community_id, me.id, datetime.now(UTC), period)
    except MarketError as error:
        problem = _say(request, error)
    categories = {key: i18n.translate(language, english) for key, english in _CATEGORY_EN.items()}
    query = "&".join(f"{key}={value}" for key, value in (("from", start), ("to", end)) if value)
    return page(request, "reports/certificates/mine.html", preview=preview, start=start, end=end,
                problem=problem, categories=categories,
                download="/certificate/download" + (f"?{query}" if query else ""),
                identity=await identities.view(me.community_id, me.id), id_types=_id_types(language),
                identity_values=identity_values or {}, identity_problem=identity_problem,
                identity_field=identity_field, correction_values=correction_values or {},
                correction_problem=correction_problem,
                corrections=(await office.of_person(me.community_id, me.id, limit=20)).items,
                saved=request.query_params.get("saved"),
                status=status if status != 200 else (400 if problem else 200))


@get("/certificate", name="web:certificate", **PAGE)
async def certificate_page(request: Request) -> Template | Redirect:
    """A resident's preview of their certificate, with a period, the download button, their ID for
    it, and asking for a correction."""
    me = page_member(request, RESIDENT)
    return await _certificate_page(request, me)


@get("/certificate/download", name="web:certificate-download", **PAGE)
async def certificate_download(request: Request, settings: NamedDependency[Settings]
                               ) -> Response[bytes] | Redirect:
    """The PDF for the page's button; a refusal (no service yet, a bad date) is a friendly page."""
    me = page_member(request, RESIDENT)
    params = request.query_params
    return await _pdf(settings, request, me.community_id, me.id, params.get("from", "")[:10],
                      params.get("to", "")[:10], full_identity=params.get("full_identity") == "1",
                      actor_id=me.id)


_IDENTITY_FIELDS = ("id_type", "id_number", "volunteer_number")


async def _identity_change(community_id: int, person_id: int, fields: dict[str, str],
                           values: dict[str, str]) -> IdentityChange:
    """What a form asks to record. The numbers are never shown in full on a page, so an empty
    number field keeps what is recorded (for the same ID type); the form's 删除 button clears."""
    if fields.get("clear") == "1":
        return IdentityChange()
    current = await identities.identity_of(community_id, person_id)
    number = values["id_number"]
    if not number and values["id_type"] and values["id_type"] == current.id_type:
        number = current.id_number or ""
    return IdentityChange(id_type=values["id_type"], id_number=number,
                          volunteer_number=values["volunteer_number"] or current.volunteer_number)


@post("/certificate/identity", status_code=303, **PAGE)
async def save_my_identity(request: Request) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    fields = await form_fields(request)
    check_csrf(request, fields)
    values = {key: fields.get(key, "").strip() for key in _IDENTITY_FIELDS}
    try:
        change = await _identity_change(me.community_id, me.id, fields, values)
        await identities.record(me.community_id, me.id, me.id, change)
    except MarketError as error:
        # What was typed is shown again, but never the ID number: a page may be cached or seen.
        return await _certificate_page(request, me, status=error.status,
                                       identity_values={**values, "id_number": ""},
                                       identity_problem=_say(request, error), identity_field=error.field)
    return Redirect("/certificate?saved=identity#identity", status_code=303)


@post("/certificate/corrections", status_code=303, **PAGE)
async def ask_correction(request: Request) -> Template | Redirect:
    me = page_member(request, RESIDENT)
    fields = await form_fields(request)
    check_csrf(request, fields)
    values = {"what": fields.get("what", "").strip(), "number": fields.get("number", "").strip()[:30]}
    try:
        await office.ask(me, NewCorrection(what=values["what"], number=values["number"]))
    except MarketError as error:
        return await _certificate_page(request, me, status=error.status, correction_values=values,
                                       correction_problem=_say(request, error))
    return Redirect("/certificate?saved=correction#corrections", status_code=303)


# -- the office's page -------------------------------------------------------------------------


async def _admin_page(request: Request, me: Principal, *, status: int = 200,
                      office_values: dict[str, str] | None = None, office_problem: str | None = None,
                      office_field: str | None = None, person_id: int | None = None,
                      identity_values: dict[str, str] | None = None, identity_problem: str | None = None,
                      identity_field: str | None = None, problem: str | None = None,
                      problem_for: int | None = None, notes: dict[int, str] | None = None) -> Template:
    params = request.query_params
    q = (params.get("q") or "").strip()[:50]
    found = None
    if person_id is None and q:
        typed = "".join(unicodedata.normalize("NFKC", q).split()).replace("-", "")
        found = (await people.list_people(me.community_id, q=typed if typed.isdigit() else q,
                                          limit=20)).items
    person = identity = None
    if person_id is not None:
        person = await people.get_person(me.community_id, person_id)
        identity = await identities.view(me.community_id, person_id)
    current = await office.office_of(me.community_id)
    return page(
        request, "reports/certificates/admin.html", status=status, q=q, found=found, person=person,
        identity=identity, id_types=_id_types(i18n.language_of(request)),
        identity_values=identity_values or {}, identity_problem=identity_problem,
        identity_field=identity_field,
        office=office_values or {"leader": current.leader, "handler": current.handler,
                                 "contact": current.contact},
        office_problem=office_problem, office_field=office_field,
        open_corrections=(await office.list_corrections(me.community_id, "open")).items,
        decided=[c for c in (await office.list_corrections(me.community_id, None)).items
                 if c.status != "open"][:20],
        problem=problem, problem_for=problem_for, notes=notes or {}, saved=params.get("saved"),
    )


def _person_id(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise NotFound()
    return int(text)


@get("/admin/certificates", name="web:admin-certificates", **PAGE)
async def admin_page(request: Request) -> Template:
    """The office: who issues certificates, a resident's ID for them, the correction requests."""
    me = page_member(request, ADMIN)
    return await _admin_page(request, me, person_id=_person_id(request.query_params.get("person")))


@post("/admin/certificates/office", status_code=303, **PAGE)
async def save_office(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    values = {key: fields.get(key, "").strip() for key in ("leader", "handler", "contact")}
    try:
        await office.set_office(me, OfficeChange(**values))
    except MarketError as error:
        return await _admin_page(request, me, status=error.status, office_values=values,
                                 office_problem=_say(request, error), office_field=error.field)
    return Redirect("/admin/certificates?saved=office#office", status_code=303)


@post("/admin/certificates/identity", status_code=303, **PAGE)
async def save_identity(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    person_id = _person_id(fields.get("person_id"))
    if person_id is None:
        raise NotFound()
    values = {key: fields.get(key, "").strip() for key in _IDENTITY_FIELDS}
    try:
        change = await _identity_change(me.community_id, person_id, fields, values)
        await identities.record(me.community_id, me.id, person_id, change)
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _admin_page(request, me, status=error.status, person_id=person_id,
                                 identity_values={**values, "id_number": ""},
                                 identity_problem=_say(request, error), identity_field=error.field)
    return Redirect(f"/admin/certificates?person={person_id}&saved=identity#identity", status_code=303)


@post("/admin/certificates/corrections/{correction_id:int}/decision", status_code=303, **PAGE)
async def decide_correction(request: Request, correction_id: FromPath[int]) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    note = fields.get("note", "").strip()
    try:
        decided = await office.decide(me, correction_id, CorrectionDecision(
            accept=fields.get("accept") == "1", note=note))
    except MarketError as error:
        if isinstance(error, NotFound):
            raise
        return await _admin_page(request, me, status=error.status, problem=_say(request, error),
                                 problem_for=correction_id, notes={correction_id: note})
    return Redirect(f"/admin/certificates?saved={decided.status}#corrections", status_code=303)


PAGES: list = [verify_page, certificate_page, certificate_download, save_my_identity, ask_correction,
               admin_page, save_office, save_identity, decide_correction]
