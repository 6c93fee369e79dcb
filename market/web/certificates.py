"""The certificate's pages: ``/certificate`` (a resident: preview, download, their ID, asking for a
correction and the answers), ``/admin/certificates`` (admins: the issuing office, recording a
resident's ID, the correction requests) and ``/verify/{token}`` (public, what the certificate's
QR opens)."""



from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from market import clock
from market.auth.roles import ADMIN, RESIDENT
from market.auth.sessions import Principal
from market.errors import MarketError, NotFound
from market.people import service as people
from market.privacy import identity as identities
from market.privacy.rules import ID_TYPES_EN
from market.privacy.schemas import IdentityChange
from market.reports import certificate_office as office
from market.reports import certificate_records as records
from market.reports.certificate_records import CATEGORY_NAMES, Period
from market.reports.certificates import answer_of, pdf_response
from market.reports.schemas import CorrectionDecision, NewCorrection, OfficeChange
from market.settings import Settings
from market.web import i18n
from market.web.forms import (
    check_csrf,
    form_fields,
    normalise_login,
    page,
    page_member,
    record_id,
    refusal_for,
)

PAGE = {"include_in_schema": False}


@get(["/verify/{token:str}", "/VERIFY/{token:str}"], name="web:certificate-verify", **PAGE)
async def verify_page(
    request: Request, token: FromPath[str], settings: NamedDependency[Settings]
) -> Template:
    """What the certificate's QR opens: anyone, no sign-in, names masked."""
    found = await records.check(settings, token[:400])
    answer = answer_of(found)
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
        preview = await records.compute(me.community_id, me.id, clock.now(), period)
    except MarketError as error:
        problem = refusal_for(request, error)
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
    return await pdf_response(settings, request, me.community_id, me.id, params.get("from", "")[:10],
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
                                       identity_problem=refusal_for(request, error),
                                       identity_field=error.field)
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
                                       correction_problem=refusal_for(request, error))
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
        typed = normalise_login(q)
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


@get("/admin/certificates", name="web:admin-certificates", **PAGE)
async def admin_page(request: Request) -> Template:
    """The office: who issues certificates, a resident's ID for them, the correction requests."""
    me = page_member(request, ADMIN)
    return await _admin_page(request, me, person_id=record_id(request.query_params.get("person")))


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
                                 office_problem=refusal_for(request, error), office_field=error.field)
    return Redirect("/admin/certificates?saved=office#office", status_code=303)


@post("/admin/certificates/identity", status_code=303, **PAGE)
async def save_identity(request: Request) -> Template | Redirect:
    me = page_member(request, ADMIN)
    fields = await form_fields(request)
    check_csrf(request, fields)
    person_id = record_id(fields.get("person_id"))
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
                                 identity_problem=refusal_for(request, error), identity_field=error.field)
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
        return await _admin_page(request, me, status=error.status, problem=refusal_for(request, error),
                                 problem_for=correction_id, notes={correction_id: note})
    return Redirect(f"/admin/certificates?saved={decided.status}#corrections", status_code=303)


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [verify_page, certificate_page, certificate_download, save_my_identity, ask_correction,
               admin_page, save_office, save_identity, decide_correction]
