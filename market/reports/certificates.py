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

Here: the certificate's download (``pdf_response``) and the check's answer (``answer_of``), which
the API (``certificate_controllers``) and the pages (``market.web.certificates``) both give.
What a certificate says and how it is signed and checked: ``certificate_records``; the PDF:
``certificate_pdf``. Certificates are not stored: the token is self-contained and the content
is recomputed from the attendance records as of the moment of issue.
"""

import asyncio

from litestar import Request, Response

from market import audit
from market.privacy import identity as identities
from market.reports import certificate_office as office
from market.reports import certificate_records as records
from market.reports.certificate_records import Check, Period, mask_name
from market.reports.schemas import CertificateCheck, CertifiedActivity
from market.settings import Settings

NO_STORE = {"Cache-Control": "no-store"}


async def pdf_response(settings: Settings, request: Request, community_id: int, person_id: int,
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


def answer_of(found: Check) -> CertificateCheck:
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
