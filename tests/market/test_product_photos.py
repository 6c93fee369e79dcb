"""Product photos: real pictures are re-encoded to bounded JPEGs; anything else changes nothing."""

import io
import secrets
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from market.community import service as communities
from market.shop import photos
from market.tables import Product, ProductPhoto
from tests.market.support import Enrol, Member
from tests.market.test_products import make


def picture(size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB", **save: object) -> bytes:
    """A picture with some detail (a gradient and stripes), as a camera's would have."""
    image = Image.new(mode, size)
    width, height = size
    pixels = image.load()
    step = max(1, width // 200)
    for x in range(0, width, step):
        for y in range(0, height, step):
            value = (x * 255 // width, y * 255 // height, ((x // 50) % 2) * 200)
            color = value[: len(mode)] if mode in ("RGB", "RGBA") else value[0]
            for dx in range(min(step, width - x)):
                pixels[x + dx, y] = color
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of width × height, all black: tens of kilobytes on disk, 400 megapixels."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data)
            + png_chunk(b"IEND", b""))


async def upload(member: Member, product_id: int, content: bytes, name: str = "photo.jpg",
                 content_type: str = "image/jpeg"):
    return await member.client.put(
        f"/api/products/{product_id}/photo", files={"file": (name, content, content_type)}
    )


async def stored(product_id: int) -> tuple[bool, list[dict]]:
    row = await Product.select(Product.has_photo).where(Product.id == product_id).first()
    return row["has_photo"], await ProductPhoto.select().where(ProductPhoto.product == product_id)


def jpeg(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    assert image.format == "JPEG"
    return image


async def test_a_png_becomes_a_bounded_jpeg_and_thumbnail(
    shopkeeper: Member, resident: Member
) -> None:
    made = await make(shopkeeper)
    original = picture((1600, 1200), "PNG", mode="RGBA")
    response = await upload(shopkeeper, made["id"], original, "米.png", "image/png")
    assert response.status_code == 200, response.text
    product = response.json()
    assert product["photo_url"].startswith(f"/api/products/{made['id']}/photo.jpg?v=")
    assert product["thumb_url"].startswith(f"/api/products/{made['id']}/thumb.jpg?v=")
    assert product | {"photo_url": None, "thumb_url": None} == made

    # any signed-in member of the community can see it, through the URLs the product gives
    full = await resident.client.get(product["photo_url"])
    assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
    assert "max-age" in full.headers["cache-control"]
    image = jpeg(full.content)
    assert image.size == (1024, 768) and image.mode == "RGB"  # aspect kept, transparency flattened
    assert len(full.content) < 400_000
    thumb = await resident.client.get(product["thumb_url"])
    assert thumb.status_code == 200 and jpeg(thumb.content).size == (256, 192)
    assert len(thumb.content) < 50_000
    # the list shows it too
    listed = (await resident.client.get("/api/products")).json()["items"]
    assert product in listed


async def test_a_jpeg_is_turned_upright_and_loses_its_exif(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned; show it rotated 90° clockwise
    exif[0x010F] = "手机厂商"  # make
    original = picture((400, 200), "JPEG", exif=exif.tobytes())
    response = await upload(shopkeeper, made["id"], original)
    assert response.status_code == 200, response.text
    served = await shopkeeper.client.get(response.json()["photo_url"])
    image = jpeg(served.content)
    assert image.size == (200, 400)
    assert not image.getexif()  # no orientation left to apply twice, no camera or place


@pytest.mark.parametrize(("fmt", "mode", "save"), [
    ("WEBP", "RGB", {}),
    ("GIF", "P", {}),
    ("PNG", "L", {}),
    ("JPEG", "CMYK", {}),
])
async def test_other_formats_and_colour_modes(
    shopkeeper: Member, fmt: str, mode: str, save: dict
) -> None:
    made = await make(shopkeeper)
    rgb = Image.open(io.BytesIO(picture((300, 300)))).convert(mode)
    out = io.BytesIO()
    rgb.save(out, format=fmt, **save)
    response = await upload(shopkeeper, made["id"], out.getvalue(), f"x.{fmt.lower()}")
    assert response.status_code == 200, response.text
    image = jpeg((await shopkeeper.client.get(response.json()["thumb_url"])).content)
    assert image.size == (256, 256) and image.mode == "RGB"


async def test_a_new_photo_replaces_the_old_one(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    first = (await upload(shopkeeper, made["id"], picture((300, 200)))).json()
    second = (await upload(shopkeeper, made["id"], picture((200, 300)))).json()
    assert first["photo_url"] != second["photo_url"]
    image = jpeg((await shopkeeper.client.get(second["photo_url"])).content)
    assert image.size == (200, 300)
    has_photo, rows = await stored(made["id"])
    assert has_photo and len(rows) == 1


def _truncated_jpeg() -> bytes:
    whole = picture((800, 600), "JPEG", quality=95)
    return whole[: len(whole) // 2]


@pytest.mark.parametrize(("content", "name", "reason"), [
    (b"This is not a picture, only a text file with a .jpg name.\n" * 20, "photo.jpg", "invalid_photo"),
    (_truncated_jpeg(), "photo.jpg", "invalid_photo"),
    (picture((64, 64), "PNG")[:-40], "photo.png", "invalid_photo"),  # PNG with its end cut off
    (b"\xff\xd8\xff\xe0" + secrets.token_bytes(4000), "noise.jpg", "invalid_photo"),
    (picture((64, 64), "BMP"), "photo.bmp", "invalid_photo"),  # a real picture, not a web format
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg",
     "invalid_photo"),
    (bomb(), "bomb.png", "photo_too_many_pixels"),
    (bomb(7_000, 7_000), "big.png", "photo_too_many_pixels"),  # under Pillow's own limit, over ours
])
async def test_refused_uploads_change_nothing(
    shopkeeper: Member, content: bytes, name: str, reason: str
) -> None:
    made = await make(shopkeeper)
    good = (await upload(shopkeeper, made["id"], picture((120, 90)))).json()
    before = await stored(made["id"])
    response = await upload(shopkeeper, made["id"], content, name)
    assert response.status_code == 400, response.text
    assert response.json()["reason"] == reason and response.json()["field"] == "file"
    assert await stored(made["id"]) == before
    # the earlier photo is still the one served
    assert jpeg((await shopkeeper.client.get(good["photo_url"])).content).size == (120, 90)
    assert (await shopkeeper.client.get(f"/api/products/{made['id']}")).json() == good


async def test_nothing_is_stored_for_a_refused_first_photo(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    response = await upload(shopkeeper, made["id"], b"GIF89a not really")
    assert response.status_code == 400 and response.json()["reason"] == "invalid_photo"
    assert "JPG" in response.json()["detail"]  # Chinese by default, naming the formats
    assert await stored(made["id"]) == (False, [])
    for which in ("photo.jpg", "thumb.jpg"):
        missing = await shopkeeper.client.get(f"/api/products/{made['id']}/{which}")
        assert missing.status_code == 404


async def test_a_file_over_five_megabytes_is_413(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    big = picture((64, 64), "PNG") + secrets.token_bytes(6 * 1024 * 1024)
    response = await upload(shopkeeper, made["id"], big, "big.png", "image/png")
    assert response.status_code == 413, response.text
    assert response.json()["reason"] == "photo_too_large" and "5 MB" in response.json()["detail"]
    # just over the limit, within the multipart envelope's room: counted after reading
    edge = secrets.token_bytes(photos.MAX_BYTES + 1)
    response = await upload(shopkeeper, made["id"], edge)
    assert response.status_code == 413 and response.json()["reason"] == "photo_too_large"
    assert await stored(made["id"]) == (False, [])


async def test_an_oversize_stream_without_a_length_is_cut_off(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    boundary = "x" * 20
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    sent = 0

    async def chunks():
        nonlocal sent
        yield head
        for _ in range(12):  # 12 MB if nobody stops it
            sent += 1
            yield b"\0" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await shopkeeper.client.put(
        f"/api/products/{made['id']}/photo", content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413 and response.json()["reason"] == "photo_too_large"
    assert sent < 12  # the server stopped reading at the limit
    assert await stored(made["id"]) == (False, [])


async def test_the_upload_needs_a_file_field(shopkeeper: Member) -> None:
    made = await make(shopkeeper)
    path = f"/api/products/{made['id']}/photo"
    wrong_field = await shopkeeper.client.put(path, files={"image": ("a.png", picture((10, 10)))})
    assert wrong_field.status_code == 400 and wrong_field.json()["reason"] == "photo_required"
    as_json = await shopkeeper.client.put(path, json={"file": "aGVsbG8="})
    assert as_json.status_code == 400 and as_json.json()["reason"] == "photo_required"
    empty = await upload(shopkeeper, made["id"], b"")
    assert empty.status_code == 400 and empty.json()["reason"] == "photo_required"
    assert await stored(made["id"]) == (False, [])


async def test_who_may_upload_and_see(
    shopkeeper: Member, admin: Member, enrol: Enrol, ledger
) -> None:
    made = await make(shopkeeper)
    resident = await enrol("resident")
    refused = await upload(resident, made["id"], picture((50, 50)))
    assert refused.status_code == 403
    assert await stored(made["id"]) == (False, [])
    assert (await upload(admin, made["id"], picture((50, 50)))).status_code == 200
    # another community's staff neither upload nor see
    other = await communities.get_or_create(ledger, f"别的社区-{secrets.token_hex(4)}")
    stranger = await enrol("admin", community_id=other.id)
    assert (await upload(stranger, made["id"], picture((60, 60)))).status_code == 404
    for which in ("photo.jpg", "thumb.jpg"):
        assert (await stranger.client.get(f"/api/products/{made['id']}/{which}")).status_code == 404
    assert jpeg((await resident.client.get(f"/api/products/{made['id']}/photo.jpg")).content
                ).size == (50, 50)
    # a product taken off sale keeps its photo for staff only
    await shopkeeper.client.patch(f"/api/products/{made['id']}", json={"active": False})
    assert (await resident.client.get(f"/api/products/{made['id']}/photo.jpg")).status_code == 404
    assert (await shopkeeper.client.get(f"/api/products/{made['id']}/photo.jpg")).status_code == 200


def test_processing_is_bounded_for_a_large_real_photo() -> None:
    """A 12-megapixel camera JPEG comes out at most 1024 px a side (decoded at a reduced scale)."""
    result = photos.process(picture((4000, 3000), "JPEG", quality=92))
    assert jpeg(result.image).size == (1024, 768) and jpeg(result.thumb).size == (256, 192)


async def test_the_document_says_how_to_upload_a_photo(shopkeeper: Member) -> None:
    """A client generated from the OpenAPI document can upload (issue 14: the body was not in it,
    and a new product's photo URL is null until a photo is uploaded, never a URL answering 404)."""
    made = await make(shopkeeper)
    assert made["photo_url"] is None and made["thumb_url"] is None
    document = (await shopkeeper.client.get("/schema/openapi.json")).json()
    body = document["paths"]["/api/products/{product_id}/photo"]["put"]["requestBody"]
    form = body["content"]["multipart/form-data"]["schema"]
    (field,) = form["required"]
    assert form["properties"][field] == {"type": "string", "format": "binary"}
    response = await shopkeeper.client.put(
        f"/api/products/{made['id']}/photo", files={field: ("p.png", picture((64, 48)), "image/png")}
    )
    assert response.status_code == 200, response.text
    assert (await shopkeeper.client.get(response.json()["photo_url"])).status_code == 200


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P"])
def test_the_memory_one_photo_takes_is_bounded(mode: str, tmp_path) -> None:
    """The largest picture of each kind that is read at all, processed in a process of its own:
    its peak memory (ru_maxrss) stays under 200 MB — with CONCURRENT at once, the bound a worker
    adds for photos. A 40 MP PNG took 208–436 MB before (issue 14)."""
    side = int(photos.MAX_PIXELS_DECODED_WHOLE ** 0.5)
    Image.new(mode, (side, side), 3 if mode == "P" else (120, 200, 30, 128)[: len(mode)]).save(
        tmp_path / "big.png")
    measure = (
        "import resource, sys; from market.shop import photos; "
        "data = open(sys.argv[1], 'rb').read(); "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; photos.process(data); "
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)"
    )
    grown = subprocess.run([sys.executable, "-c", measure, str(tmp_path / "big.png")],
                           capture_output=True, text=True, check=True)
    assert int(grown.stdout) < 200, f"{mode}: {grown.stdout} MB"
