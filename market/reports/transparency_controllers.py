"""The transparency API (阳光积分): a community's signed daily checkpoints, their history, the
files for the offline check, and a resident's proof that an entry is in the chain.

Public unless said: ``GET /api/transparency/checkpoints`` (history, newest first, paged),
``GET /api/transparency/checkpoints.json`` (the community's whole history as one file, for the
offline check), ``GET /api/transparency/legacy.json`` (the chain of before chains per community,
for a community whose chain grew from it), ``GET /api/transparency/proof`` (one entry's proof),
``POST /api/transparency/checkpoints`` (admin: today's checkpoint now). The work is done in
``market.reports.checkpoint_service`` and ``checkpoint_files``; the offline check is
``checkpoint_verify``; the page is ``market.web.transparency``.
"""


from datetime import datetime
from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream

from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.paging import Cursor
from market.reports import checkpoint_files as files
from market.reports import checkpoint_service as checkpoints
from market.reports.schemas import CheckpointPage, CheckpointView, Proof
from market.settings import Settings

__all__ = ["API"]

PUBLIC = {"public": True}
CommunityParam = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]


def _attachment(name: str, body) -> Stream:
    return Stream(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _file_name(kind: str, community_id: int) -> str:
    return f"{kind}-{community_id}-{datetime.now().strftime('%Y%m%d')}.json"


class CheckpointController(Controller):
    path = "/transparency"
    tags = ("transparency",)

    @get("/checkpoints", opt=PUBLIC, summary="The community's signed daily checkpoints, newest first")
    async def history(
        self,
        settings: NamedDependency[Settings],
        community: CommunityParam = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Cursor = None,
    ) -> CheckpointPage:
        return await checkpoints.history_page(settings, community, limit, cursor)

    @get(
        "/checkpoints.json", opt=PUBLIC,
        summary="The community's whole history: its chain's origin, its checkpoints and its own "
                "transfers up to the newest checkpoint, for the offline check",
    )
    async def download(self, settings: NamedDependency[Settings], community: CommunityParam = None) -> Stream:
        found = await checkpoints.community_or_404(community)
        document = await files.history_document(settings, found)
        return _attachment(_file_name("transparency", found.id), document)

    @get(
        "/legacy.json", opt={**PUBLIC, "problems": (404,)},
        summary="The installation-wide chain of before chains per community, up to where the "
                "community's chain begins (it holds every community's transfers of then)",
    )
    async def legacy(self, settings: NamedDependency[Settings], community: CommunityParam = None) -> Stream:
        found = await checkpoints.community_or_404(community)
        document = await files.legacy_document(settings, found)
        return _attachment(_file_name("legacy", found.id), document)

    @post(
        "/checkpoints", guards=[requires_role(ADMIN)],
        summary="Make today's checkpoint of the admin's community now (idempotent per day)",
    )
    async def make(
        self, settings: NamedDependency[Settings], me: NamedDependency[Principal]
    ) -> CheckpointView:
        return await checkpoints.make_checkpoint(settings, me.community_id)

    @get("/proof", opt=PUBLIC, summary="The proof that a transfer is in the chain a checkpoint signed")
    async def proof(
        self,
        settings: NamedDependency[Settings],
        transfer: Annotated[str, QueryParameter(min_length=1, max_length=200)],
        community: CommunityParam = None,
    ) -> Proof:
        return await files.proof(settings, community, transfer)


#: Its /api route handlers, wired into the /api router by ``market.app``.
API: list = [CheckpointController]
