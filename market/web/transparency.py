"""The public transparency page (阳光积分), ``/transparency?community=<slug or id>``: a
community's totals, the head of its chain, its signed daily checkpoints and their history, and a
resident's proof that an entry is in the chain, read through ``market.reports`` (the API is
``market.reports.transparency_controllers``).
"""

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from ledger import Ledger
from market.community import slugs
from market.errors import NotFound
from market.points import service as points
from market.reports import checkpoint_files as files
from market.reports import checkpoint_service as checkpoints
from market.reports import keys
from market.settings import Settings
from market.web.forms import page

#: Checkpoints per page of the history.
PAGE_SIZE = 10

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


#: Its pages, wired into the pages' router by ``market.web.site``.
PAGES: list = [transparency_page]
