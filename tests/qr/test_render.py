"""Pictures: every rendered code decodes back to its text; sizes stay small enough for old cameras."""

from hypothesis import given, settings
from hypothesis import strategies as st

from qr import render
from qr.rotating import Rotation
from qr.tokens import Kind, Signer

SIGNER = Signer.from_secrets(["render tests"])


def test_member_and_card_codes_decode_back() -> None:
    member = Rotation().issue(SIGNER, Kind.MEMBER_CODE, 123456).text
    card = SIGNER.sign(Kind.CARD, 123456, 3)
    for text in (member, card):
        data = render.png(text)
        assert data.startswith(b"\x89PNG")
        assert render.decode_png(data) == [text]
        assert render.version_of(text) <= 3


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(list(Kind)), st.integers(0, 2**40), st.integers(0, 2**40))
def test_every_token_decodes_back(kind: Kind, first: int, second: int) -> None:
    text = SIGNER.sign(kind, first, second)
    assert render.decode_png(render.png(text, box_size=4)) == [text]


def test_a_check_in_url_fits_version_5_at_level_m() -> None:
    token = SIGNER.sign(Kind.ACTIVITY_ROTATING, 2**31, 2**31)
    url = "HTTPS://JIFEN.EXAMPLE-COMMUNITY.CN/C/" + token
    assert render.version_of(url) <= 5
    assert render.decode_png(render.png(url)) == [url]


def test_svg_is_a_scalable_picture() -> None:
    text = render.svg(SIGNER.sign(Kind.CARD, 1, 1))
    assert text.startswith("<svg") and "<path" in text


def test_garbage_images_decode_to_nothing() -> None:
    assert render.decode_png(b"not a picture") == []
    blank = render.image("X")
    blank.paste(255, (0, 0, *blank.size))
    assert render.decode_image(blank) == []
