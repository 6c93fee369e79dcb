"""The earning categories' endpoints (admins keep the catalogue) and how to earn (anyone signed in).

``GET/POST /api/points/categories``, ``PUT /api/points/categories/{category_id}`` (admin);
``GET /api/points/how-to-earn`` for every signed-in person of the community, in the reader's
language (``Accept-Language``) for the rules in words. See ``market.points.categories``.
"""

from typing import Annotated

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.messages import preferred_language
from market.points import categories
from market.points.categories import CategoryChange, CategoryList, EarningCategory, HowToEarn, NewCategory


class EarningCategoryController(Controller):
    path = "/points/categories"
    tags = ("points",)
    guards = (requires_role(ADMIN),)

    @get("/", summary="The community's earning categories, archived ones too (unless asked not to)")
    async def index(
        self,
        me: NamedDependency[Principal],
        archived: Annotated[bool, QueryParameter(description="also list archived categories")] = True,
    ) -> CategoryList:
        return CategoryList(items=await categories.list_categories(me.community_id, archived=archived))

    @post("/", summary="Add an earning category: its name, default rates and description")
    async def create(self, data: JSONBody[NewCategory], me: NamedDependency[Principal]) -> EarningCategory:
        return await categories.create(me, data)

    @put("/{category_id:int}", summary="Change an earning category, or archive or restore it")
    async def change(
        self, category_id: FromPath[int], data: JSONBody[CategoryChange], me: NamedDependency[Principal]
    ) -> EarningCategory:
        return await categories.update(me, category_id, data)


class HowToEarnController(Controller):
    path = "/points"
    tags = ("points",)

    @get("/how-to-earn", summary="What earns points here: categories and rates, caps, expiry, 公示, "
                                 "and the upcoming activities open to the reader")
    async def how_to_earn(self, request: Request, me: NamedDependency[Principal]) -> HowToEarn:
        language = preferred_language(request.headers.get("accept-language"))
        return await categories.how_to_earn(me, language)
