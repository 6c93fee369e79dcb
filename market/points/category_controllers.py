"""The earning categories' endpoints: admins keep the catalogue.

``GET/POST /api/points/categories``, ``PUT /api/points/categories/{category_id}`` (admin). See
``market.points.categories``; how to earn is ``market.activities.how_to_earn_controllers``.
"""

from typing import Annotated

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN
from market.auth.sessions import Principal
from market.points import categories
from market.points.schemas import CategoryChange, CategoryList, EarningCategory, NewCategory


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
