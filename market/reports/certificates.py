"""The volunteer service certificate (志愿服务记录证明) as a PDF, and its public verification page.

- ``GET /api/me/certificate.pdf`` (a resident, their own) and
  ``GET /api/people/{person_id}/certificate.pdf`` (an admin or organizer of the person's
  community), both with an optional period ``?from=YYYY-MM-DD&to=YYYY-MM-DD``;
- ``GET /api/certificates/verify/{token}`` (public): valid, changed (200) or invalid (404, the
  same JSON), what it certifies, the name masked;
- pages: ``/certificate`` (a resident: preview and download) and ``/verify/{token}`` (public,
  what the certificate's QR opens).

What a certificate says and how it is signed and checked: ``certificate_records``; the PDF:
``certificate_pdf``. Certificates are not stored: the token is self-contained and the content
is recomputed from the attendance records as of the moment of issue.
"""

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, ORGANIZER, RESIDENT
from market.auth.sessions import Principal
from market.constraints import DAY
from market.errors import MarketError
from market.reports import certificate_records as records
from market.reports.certificate_pdf import render_pdf
from market.reports.certificate_records import CATEGORY_NAMES, Check, Period, mask_name
from market.settings import Settings
from market.web import i18n
from market.web.forms import page, page_member

NO_STORE = {"Cache-Control": "no-store"}
PAGE = {"include_in_schema": False}

async def _pdf(settings: Settings, request: Request, community_id: int, person_id: int,
               start: str | None, end: str | None) -> Response[bytes]:
    period = Period.parse(start, end)
    certificate = await records.issue(settings, community_id, person_id, period)
    url = records.verification_url(settings, str(request.base_url), certificate.token)
    data = await asyncio.to_thread(render_pdf, certificate, url)
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
    ) -> Response[bytes]:
        return await _pdf(settings, request, me.community_id, me.id, start, end)


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


API: list = [MyCertificateController, PersonCertificateController, VerifyController]


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


@get("/certificate", name="web:certificate", **PAGE)
async def certificate_page(request: Request) -> Template | Redirect:
    """A resident's preview of their certificate, with a period, and the download button."""
    me = page_member(request, RESIDENT)
    start = request.query_params.get("from", "")[:10]
    end = request.query_params.get("to", "")[:10]
    language = i18n.language_of(request)
    problem, preview = None, None
    try:
        period = Period.parse(start, end)
        preview = await records.compute(me.community_id, me.id, datetime.now(UTC), period)
    except MarketError as error:
        problem = i18n.error_text(language, error.reason, **{"field": error.field or "", **error.params})
    categories = {key: i18n.translate(language, english) for key, english in _CATEGORY_EN.items()}
    query = "&".join(f"{key}={value}" for key, value in (("from", start), ("to", end)) if value)
    return page(request, "reports/certificates/mine.html", preview=preview, start=start, end=end,
                problem=problem, categories=categories,
                download="/certificate/download" + (f"?{query}" if query else ""),
                status=400 if problem else 200)


@get("/certificate/download", name="web:certificate-download", **PAGE)
async def certificate_download(request: Request, settings: NamedDependency[Settings]
                               ) -> Response[bytes] | Redirect:
    """The PDF for the page's button; a refusal (no service yet, a bad date) is a friendly page."""
    me = page_member(request, RESIDENT)
    return await _pdf(settings, request, me.community_id, me.id,
                      request.query_params.get("from", "")[:10], request.query_params.get("to", "")[:10])


PAGES: list = [verify_page, certificate_page, certificate_download]
