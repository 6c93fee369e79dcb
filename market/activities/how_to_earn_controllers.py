"""How to earn, for every signed-in person of the community: ``GET /api/points/how-to-earn``, in
the reader's language (``Accept-Language``) for the rules in words. See
``market.activities.how_to_earn``. (Its path stays under ``/points``, where the API has always
had it.)
"""

from litestar import Controller, Request, get
from litestar.di import NamedDependency

from market.activities import how_to_earn
from market.activities.schemas import HowToEarn
from market.auth.sessions import Principal
from market.messages import preferred_language


class HowToEarnController(Controller):
    path = "/points"
    tags = ("points",)

    @get("/how-to-earn", summary="What earns points here: categories and rates, caps, expiry, 公示, "
                                 "and the upcoming activities open to the reader")
    async def how_to_earn(self, request: Request, me: NamedDependency[Principal]) -> HowToEarn:
        language = preferred_language(request.headers.get("accept-language"))
        return await how_to_earn.how_to_earn(me, language)
