"""The public transparency page (阳光积分): a community's totals, the head of its chain, daily
checkpoints signed with the community's Ed25519 key, their history, and a resident's proof that an
entry is in the chain.

API (public unless said): ``GET /api/transparency/checkpoints`` (history, newest first, paged),
``GET /api/transparency/checkpoints.json`` (the community's whole history as one file, for the
offline check), ``GET /api/transparency/legacy.json`` (the chain of before chains per community,
for a community whose chain grew from it), ``GET /api/transparency/proof`` (one entry's proof),
``POST /api/transparency/checkpoints`` (admin: today's checkpoint now). The page is
``/transparency?community=<slug or id>``. The work is done in ``market.reports.checkpoint_service`` and
``checkpoint_files``; the offline check is ``checkpoint_verify``.
"""

from datetime import datetime
from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream, Template

from ledger import Ledger
from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.community import slugs
from market.errors import NotFound
from market.paging import Cursor
from market.points import service as points
from market.reports import checkpoint_files as files
from market.reports import checkpoint_service as checkpoints
from market.reports import keys
from market.reports.checkpoint_files import Proof
from market.reports.checkpoint_service import CheckpointPage, CheckpointView
from market.settings import Settings
from market.web.forms import page

__all__ = ["API", "PAGES"]

PUBLIC = {"public": True}
CommunityParam = Annotated[int | None, QueryParameter(ge=1, le=2**31 - 1)]
#: Checkpoints per page of the history on the page and by default in the API.
PAGE_SIZE = 10


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


# -- the page -------------------------------------------------------------------------------------




@get("/transparency", name="web:transparency", include_in_schema=False)
async def transparency_page(
    request: Request, ledger: NamedDependency[Ledger], settings: NamedDependency[Settings]
) -> Template:
    """阳光积分: anyone may read it, signed in or not."""
    # A slug, an id or the name (``market.community.slugs.resolve``); none: the oldest community.
    found = await slugs.resolve(request.query_params.get("community"))
    totals = await points.transparency(ledger, found.id)
    cursor = request.query_params.get("cursor") or None
    history = await checkpoints.history_page(settings, totals.community_id, PAGE_SIZE, cursor)
    newest = await checkpoints.latest(totals.community_id)
    verdict = await checkpoints.status_of(settings, newest) if newest else None
    transfer = (request.query_params.get("transfer") or "").strip()[:200]
    lookup = None
    if transfer:
        try:
            proof = await files.proof(settings, totals.community_id, transfer)
        except NotFound:
            lookup = {"state": "unknown", "transfer": transfer}
        else:
            problem = files.check_proof(proof) if proof.status == "ok" else None
            state = proof.status if problem is None else "broken"
            lookup = {"state": state, "transfer": transfer, "proof": proof, "problem": problem}
    community = totals.community_id
    key = keys.public_key_hex(settings, community)
    chain = await checkpoints.chain_of(community)
    command = files.CHECK.format(file=f"transparency-{community}.json", key=key)
    legacy = None
    if chain.legacy:
        legacy = {"seq": chain.legacy[0], "download": files.LEGACY_URL.format(community=community)}
        command += f" --legacy legacy-{community}.json"
    return page(
        request, "reports/transparency/page.html", totals=totals, newest=newest, verdict=verdict,
        history=history, first_page=cursor is None, public_key=key, genesis=chain.genesis,
        download=f"/api/transparency/checkpoints.json?community={community}", legacy=legacy,
        lookup=lookup, command=command, proof_command=files.CHECK.format(file="proof.json", key=key),
        slug=found.slug,
    )


#: Its /api route handlers (controllers), wired into the /api router by ``market.app``.
API: list = [CheckpointController]
#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [transparency_page]
