"""The shop's catalogue over HTTP: products, their stock record and their photos."""

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from market.auth.guards import requires_role
from market.auth.roles import ADMIN, SHOPKEEPER
from market.auth.sessions import Principal
from market.errors import NotFound
from market.paging import Cursor
from market.shop import catalogue, photos
from market.shop.schemas import (
    MovementPage,
    NewProduct,
    ProductChanges,
    ProductList,
    ProductView,
    StockChange,
    StockLevel,
)

SHOP = requires_role(SHOPKEEPER, ADMIN)
#: Photo URLs carry the photo's version (?v=), so a cached copy is never stale for long.
PHOTO_CACHE = {"Cache-Control": "private, max-age=86400"}


class ProductController(Controller):
    path = "/products"
    tags = ("shop",)

    @post("/", guards=[SHOP], summary="Add a product to the shop")
    async def create(self, data: JSONBody[NewProduct], me: NamedDependency[Principal]) -> ProductView:
        return await catalogue.create(me, data)

    @get("/", summary="The shop's products with their current stock")
    async def index(
        self,
        me: NamedDependency[Principal],
        include_inactive: Annotated[
            bool, QueryParameter(description="shop keepers and admins: inactive products too")
        ] = False,
    ) -> ProductList:
        return await catalogue.list_products(me, include_inactive)

    @get("/{product_id:int}", summary="One product")
    async def show(self, product_id: FromPath[int], me: NamedDependency[Principal]) -> ProductView:
        return await catalogue.get(me, product_id)

    @patch("/{product_id:int}", guards=[SHOP],
           summary="Change a product's name, category, price, limits or whether it is on sale")
    async def edit(
        self, product_id: FromPath[int], data: JSONBody[ProductChanges], me: NamedDependency[Principal]
    ) -> ProductView:
        return await catalogue.update(me, product_id, data)

    @post("/{product_id:int}/stock", guards=[SHOP], status_code=200,
          summary="Add or take away stock: a donation, a purchase or an adjustment with a reason")
    async def move_stock(
        self, product_id: FromPath[int], data: JSONBody[StockChange], me: NamedDependency[Principal]
    ) -> StockLevel:
        return await catalogue.add_stock(me, product_id, data)

    @get("/{product_id:int}/stock", guards=[SHOP], summary="The product's stock record, newest first")
    async def stock_record(
        self,
        product_id: FromPath[int],
        me: NamedDependency[Principal],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Cursor = None,
    ) -> MovementPage:
        return await catalogue.stock_record(me, product_id, limit, cursor)

    @put(
        "/{product_id:int}/photo",
        guards=[SHOP],
        summary="Upload the product's photo",
        description=(
            "Multipart field `file`: a JPEG, PNG, WebP or GIF picture of at most 5 MB and "
            "40 megapixels (a JPEG) or 16 (the others). It is stored re-encoded as a JPEG (at "
            "most 1024 px a side) with a 256 px thumbnail, upright and without EXIF data. Answers "
            "with the product."
        ),
        request_max_body_size=photos.MAX_BYTES + photos.ENVELOPE,
        opt={"upload": "file"},
    )
    async def upload_photo(
        self, product_id: FromPath[int], request: Request, me: NamedDependency[Principal]
    ) -> ProductView:
        # The body is read here, not by Litestar, so an oversize upload gets our own 413 reason.
        content = await photos.read_upload(request)
        if not await catalogue.visible(me, product_id):
            raise NotFound()
        photo = await photos.process_off_loop(content)
        await photos.store(me.community_id, product_id, photo)
        return await catalogue.get(me, product_id)

    @get("/{product_id:int}/photo.jpg", media_type="image/jpeg", summary="The product's photo (JPEG)")
    async def photo(self, product_id: FromPath[int], me: NamedDependency[Principal]) -> Response[bytes]:
        jpeg = await photos.picture(
            me.community_id, product_id, "image", include_inactive=catalogue.is_shop_staff(me)
        )
        return Response(jpeg, media_type="image/jpeg", headers=PHOTO_CACHE)

    @get("/{product_id:int}/thumb.jpg", media_type="image/jpeg",
         summary="The product's thumbnail (JPEG, 256 px)")
    async def thumb(self, product_id: FromPath[int], me: NamedDependency[Principal]) -> Response[bytes]:
        jpeg = await photos.picture(
            me.community_id, product_id, "thumb", include_inactive=catalogue.is_shop_staff(me)
        )
        return Response(jpeg, media_type="image/jpeg", headers=PHOTO_CACHE)
