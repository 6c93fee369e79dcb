"""Property tests of QR pictures: every code decodes back to its text; check-in URLs fit version 5-M.

What the sizes depend on (measured with ``qrcode``'s own segmenting, ``add_data`` with its default
``optimize=20``): an uppercase URL such as ``HTTPS://HOST/C/<token>`` is one alphanumeric segment
(5.5 bits a character). A lowercase ``https://host/c/`` is not alphanumeric at all: ``qrcode`` splits
the text into a byte segment (8 bits a character) for the lowercase part and an alphanumeric segment
for the token (a run of ≥ 20 alphanumeric characters gets its own segment). Both decode back exactly.

With an activity id below 2³⁵ and a step below 2²⁸ (until the year 2225) the token is 42 characters
(26 bytes); at version 5-M the longest base URL (scheme + host, no trailing slash) is then:

    lowercase  ``https://…`` + ``/c/`` or ``/C/`` + token   51 characters
    uppercase  ``HTTPS://…`` + ``/C/`` + token              77 characters

(for ids below 2²¹, a 39-character token: 53 and 80). The app's ``/C/`` after a lowercase
``MARKET_BASE_URL`` is the first row: the short uppercase run ``/C/`` goes into the byte segment
with the host. ``https://jifen.example-community.cn`` is 34 characters: version 5 lowercase,
version 4 uppercase. qrcode's segmenter is greedy, not optimal (see the alphanumeric-URL test).
"""

import re
import string
from datetime import UTC, datetime

import qrcode
import qrcode.constants
import qrcode.util
from hypothesis import given, settings
from hypothesis import strategies as st

from qr import render
from qr.rotating import Rotation
from qr.tokens import Kind, Signer

SIGNER = Signer.from_secrets(["render property tests"])
ROTATION = Rotation()
EXAMPLE_BASE = "https://jifen.example-community.cn"

#: QR alphanumeric mode: what an uppercase URL may contain and stay in it.
QR_ALPHANUMERIC = string.digits + string.ascii_uppercase + " $%*+-./:"

MAX_ACTIVITY_ID = 2**35 - 1
"""Largest id whose varint is 5 bytes: every id up to here gives a 42-character token."""
LOWERCASE_BASE_MAX = 51
UPPERCASE_BASE_MAX = 77

ids = st.integers(0, 2**40)
large_activity_ids = st.integers(2**28, MAX_ACTIVITY_ID)
# Steps stay 4-byte varints (< 2²⁸) until 2225; the range covers the product's lifetime and more.
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def version_and_modes(text: str) -> tuple[int, list[int]]:
    """The QR version at level M and the modes of the segments ``qrcode`` chose."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(text)
    code.make(fit=True)
    return code.version, [chunk.mode for chunk in code.data_list]


def decodes_back(text: str) -> bool:
    return render.decode_png(render.png(text, box_size=3)) == [text]


def checkin_token(activity_id: int, now: datetime) -> str:
    return ROTATION.issue(SIGNER, Kind.ACTIVITY_ROTATING, activity_id, now).text


@st.composite
def hosts(draw, max_length: int) -> str:
    """A lowercase DNS name (labels of letters, digits and hyphens) of at most ``max_length``."""
    label = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=20).filter(
        lambda s: s[0] != "-" and s[-1] != "-"
    )
    labels = draw(st.lists(label, min_size=1, max_size=4))
    name = ".".join([*labels, draw(st.sampled_from(["cn", "com.cn", "gov.cn", "org"]))])
    return name[-max_length:].lstrip(".-") or "a.cn"


# -- every rendered code decodes back to its text ------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(ids, moments)
def test_member_codes_decode_back(person_id: int, now: datetime) -> None:
    text = ROTATION.issue(SIGNER, Kind.MEMBER_CODE, person_id, now).text
    assert decodes_back(text)


@settings(max_examples=20, deadline=None)
@given(ids, st.integers(0, 10_000))
def test_card_codes_decode_back(person_id: int, card_version: int) -> None:
    assert decodes_back(SIGNER.sign(Kind.CARD, person_id, card_version))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, MAX_ACTIVITY_ID), moments)
def test_activity_rotating_tokens_decode_back(activity_id: int, now: datetime) -> None:
    assert decodes_back(checkin_token(activity_id, now))


@settings(max_examples=30, deadline=None)
@given(st.text(QR_ALPHANUMERIC, min_size=1, max_size=150))
def test_uppercase_alphanumeric_urls_decode_back(rest: str) -> None:
    url = "HTTPS://" + rest
    _, modes = version_and_modes(url)
    # qrcode's segmenter is greedy: a run of >= 20 digits becomes a numeric segment and the short
    # alphanumeric pieces around it go to byte mode. Tokens never hold such a run (base32 digits
    # are 2-7 among 32 symbols), so check-in URLs stay one alphanumeric segment.
    if not re.search(r"[0-9]{20}", url):
        assert modes == [qrcode.util.MODE_ALPHA_NUM]
    assert decodes_back(url)


# -- the check-in URL stays small ------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(hosts(LOWERCASE_BASE_MAX - len("https://")), st.sampled_from(["/c/", "/C/"]), large_activity_ids,
       moments)
def test_lowercase_checkin_url_fits_version_5_m(
    host: str, path: str, activity_id: int, now: datetime
) -> None:
    url = f"https://{host}{path}{checkin_token(activity_id, now)}"
    version, modes = version_and_modes(url)
    assert version <= 5, (len(url), modes)
    # The token still travels in alphanumeric mode even though the URL around it is lowercase.
    assert modes[-1] == qrcode.util.MODE_ALPHA_NUM


@settings(max_examples=40, deadline=None)
@given(hosts(UPPERCASE_BASE_MAX - len("HTTPS://")), large_activity_ids, moments)
def test_uppercase_checkin_url_fits_version_5_m(host: str, activity_id: int, now: datetime) -> None:
    url = f"HTTPS://{host.upper()}/C/{checkin_token(activity_id, now)}"
    version, modes = version_and_modes(url)
    assert modes == [qrcode.util.MODE_ALPHA_NUM]
    assert version <= 5, len(url)


@settings(max_examples=10, deadline=None)
@given(large_activity_ids, moments, st.booleans())
def test_example_checkin_url_fits_and_decodes_back(activity_id: int, now: datetime, upper: bool) -> None:
    token = checkin_token(activity_id, now)
    url = f"{EXAMPLE_BASE.upper()}/C/{token}" if upper else f"{EXAMPLE_BASE}/c/{token}"
    version, _ = version_and_modes(url)
    assert version == (4 if upper else 5)
    assert render.version_of(url) == version
    assert decodes_back(url)


def test_the_base_url_bounds_are_tight() -> None:
    """One more character of base URL than the documented maximum needs version 6."""
    token = checkin_token(MAX_ACTIVITY_ID, datetime(2200, 1, 1, tzinfo=UTC))
    assert len(token) == 42
    for scheme, path, longest in (("https://", "/c/", LOWERCASE_BASE_MAX),
                                  ("https://", "/C/", LOWERCASE_BASE_MAX),
                                  ("HTTPS://", "/C/", UPPERCASE_BASE_MAX)):
        for length, expected in ((longest, 5), (longest + 1, 6)):
            host = "a" * (length - len(scheme) - len(".cn")) + ".cn"
            if scheme.isupper():
                host = host.upper()
            base = scheme + host
            assert len(base) == length
            assert version_and_modes(base + path + token)[0] == expected, (scheme, length)
