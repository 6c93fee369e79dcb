"""The camera scanner's server half, POST /scan/decode: a picture in, the QR code's text out.

Staff only, CSRF in the X-CSRF-Token header, at most 2 MB, real pictures only; a picture
without a code is a plain "not found" answer, never an error page; the code is never logged.
"""

import io
import logging
import time
from collections import deque

import httpx
import pytest
from litestar import Litestar
from PIL import Image

import qr
from market.web import scanner
from tests.market.support import Member
from tests.web.support import browser, csrf_of

pytestmark = pytest.mark.asyncio

CODE = "M1ABCDEFGHJKLMNPQRSTUVWXYZ234567ABCD"


async def sign_in_staff(client: httpx.AsyncClient, member: Member, next_path: str = "/") -> str:
    """Sign a staff member in on the page with their password; the session's CSRF token."""
    form = await client.get("/signin", params={"next": next_path})
    response = await client.post("/signin", data={
        "csrf": csrf_of(form.text), "next": next_path, "login": member.phone,
        "secret": member.password or member.pin,
    })
    assert response.status_code == 303, response.text
    home = await client.get("/")
    return csrf_of(home.text)


def jpeg_of(picture: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def camera_frame(text: str) -> bytes:
    """A QR on a grey background at an offset, like a camera frame of a phone screen."""
    frame = Image.new("RGB", (640, 480), (120, 124, 118))
    frame.paste(qr.image(text, box_size=6).convert("RGB"), (180, 60))
    return jpeg_of(frame)


async def decode(client: httpx.AsyncClient, body: bytes, csrf: str | None,
                 content_type: str = "image/jpeg") -> httpx.Response:
    headers = {"Content-Type": content_type}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return await client.post("/scan/decode", content=body, headers=headers)


@pytest.fixture(autouse=True)
def no_rate_memory() -> None:
    scanner._recent.clear()


async def test_a_camera_frame_and_a_png_are_read_and_the_code_is_never_logged(
    app: Litestar, shopkeeper: Member, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with browser(app) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        response = await decode(client, camera_frame(CODE), csrf)
        assert response.status_code == 200, response.text
        assert response.json() == {"text": CODE, "found": True}
        assert response.headers["cache-control"] == "no-store"
        png = await decode(client, qr.png(CODE), csrf, "image/png")
        assert png.json()["text"] == CODE
    assert CODE not in caplog.text


async def test_organizers_and_admins_scan_too(app: Litestar, organizer: Member, admin: Member) -> None:
    for member in (organizer, admin):
        async with browser(app) as client:
            csrf = await sign_in_staff(client, member)
            response = await decode(client, camera_frame(CODE), csrf)
            assert response.json()["text"] == CODE, response.text


async def test_a_picture_without_a_code_is_a_clear_not_found(app: Litestar, shopkeeper: Member) -> None:
    async with browser(app, "en") as client:
        csrf = await sign_in_staff(client, shopkeeper)
        blank = jpeg_of(Image.new("RGB", (640, 480), (200, 190, 180)))
        response = await decode(client, blank, csrf)
    assert response.status_code == 200
    body = response.json()
    assert body["found"] is False and body["text"] is None and body["reason"] == "no_code"
    assert "No code found" in body["message"]


@pytest.mark.parametrize(("language", "words"), [("zh", "图片"), ("en", "picture")])
async def test_garbage_and_a_fake_picture_are_refused_in_the_readers_language(
    app: Litestar, shopkeeper: Member, language: str, words: str
) -> None:
    async with browser(app, language) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        for body in (b"not a picture at all", b"\xff\xd8\xff\xe0" + b"\x00" * 500, b""):
            response = await decode(client, body, csrf)
            assert response.status_code == 400, response.text
            assert response.json()["reason"] == "not_a_picture"
            assert words in response.json()["message"]
        # A GIF is a picture, but not one a camera or the script sends.
        gif = io.BytesIO()
        Image.new("L", (50, 50)).save(gif, format="GIF")
        assert (await decode(client, gif.getvalue(), csrf, "image/gif")).status_code == 400


async def test_an_oversized_picture_is_refused(app: Litestar, shopkeeper: Member) -> None:
    async with browser(app) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        response = await decode(client, b"\xff" * (scanner.MAX_BYTES + 1), csrf)
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"
    assert "2 MB" in response.json()["message"]


async def test_a_huge_canvas_in_a_small_file_is_refused(app: Litestar, shopkeeper: Member) -> None:
    out = io.BytesIO()
    Image.new("1", (6000, 6000)).save(out, format="PNG")  # 36 megapixels, a few KB
    async with browser(app) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        response = await decode(client, out.getvalue(), csrf, "image/png")
    assert response.status_code == 400
    assert response.json()["reason"] == "not_a_picture"


async def test_residents_and_strangers_are_refused(app: Litestar, resident: Member) -> None:
    async with browser(app) as client:
        stranger = await decode(client, camera_frame(CODE), "x" * 30)
        assert stranger.status_code == 401 and stranger.json()["reason"] == "not_signed_in"
        form = await client.get("/signin")
        await client.post("/signin", data={
            "csrf": csrf_of(form.text), "next": "/", "login": resident.phone, "secret": resident.pin,
        })
        csrf = csrf_of((await client.get("/")).text)
        response = await decode(client, camera_frame(CODE), csrf)
    assert response.status_code == 403
    assert response.json() == {
        "text": None, "found": False, "reason": "forbidden", "message": "您没有权限进行此操作",
    }


async def test_the_csrf_token_is_required(app: Litestar, shopkeeper: Member) -> None:
    async with browser(app) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        for sent in (None, "", "wrong-" + csrf[6:]):
            response = await decode(client, camera_frame(CODE), sent)
            assert response.status_code == 403, sent
            assert response.json()["reason"] == "csrf"
        cross_site = await client.post("/scan/decode", content=camera_frame(CODE), headers={
            "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site", "Content-Type": "image/jpeg",
        })
        assert cross_site.status_code == 403


async def test_a_flood_of_pictures_is_slowed_down(app: Litestar, shopkeeper: Member) -> None:
    async with browser(app) as client:
        csrf = await sign_in_staff(client, shopkeeper)
        scanner._recent[shopkeeper.id] = deque([time.monotonic()] * scanner.PER_PERSON)
        response = await decode(client, camera_frame(CODE), csrf)
    assert response.status_code == 429
    assert response.json()["reason"] == "too_many_pictures"
