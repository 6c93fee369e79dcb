"""What a scanned doorplate (数字门牌) opens: the household's own page for a member of it, and for
anyone else the community's public page with its 民声 hotline (``market.community.doorplates``).

A resident not signed in is offered sign-in, and comes back here afterwards, so one scan of
the plate on their own door opens their household. A reissued plate gets the 410 page.
The office prints a household's plate and reissues it from the structure page.
"""

import asyncio
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter
from litestar.response import Redirect, Template

from market.auth.roles import ADMIN
from market.community import doorplates
from market.settings import Settings
from market.web.forms import check_csrf, form_fields, page, page_member, signed_in

PAGE = {"include_in_schema": False}


@get("/d/{token:str}", name="web:doorplate", **PAGE)
async def doorplate(
    request: Request, token: Annotated[str, PathParameter(max_length=200)],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    found = await doorplates.scanned(settings, token)
    me = signed_in(request)
    if me is not None and await doorplates.lives_here(found.household_id, me.id):
        return Redirect("/household", status_code=303)
    return page(request, "doorplate.html", plate=found, signed=me is not None, here=f"/d/{token}")


# -- the office: printing and reissuing plates (its structure page lists them) -----------------


@get("/admin/doorplates/{household_id:int}", name="web:admin-doorplate", **PAGE)
async def plate_pdf(
    request: Request, household_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response[bytes]:
    """The household's A6 plate to print."""
    me = page_member(request, ADMIN)
    plate = await doorplates.plate(me.community_id, household_id, settings=settings,
                                   request_base=str(request.base_url))
    from market.community.doorplate_pdf import render_pdf  # reportlab loads on the first plate

    data = await asyncio.to_thread(render_pdf, plate)
    return Response(data, media_type="application/pdf", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="doorplate-{household_id}.pdf"',
    })


@post("/admin/doorplates/{household_id:int}/reissue", status_code=303, **PAGE)
async def reissue_plate(request: Request, household_id: FromPath[int]) -> Redirect:
    """A new plate for the household (a lost, damaged or misused one): the old code stops working."""
    me = page_member(request, ADMIN)
    check_csrf(request, await form_fields(request))
    await doorplates.reissue(me.community_id, household_id, actor_id=me.id)
    return Redirect(f"/admin/structure?reissued={household_id}#household-{household_id}", status_code=303)


PAGES = [doorplate, plate_pdf, reissue_plate]
