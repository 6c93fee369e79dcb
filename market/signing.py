"""The installation's QR signers: every signed code the market prints or shows (member codes,
cards, activity codes, doorplates) is signed by one of them, keyed from the app's secret.

The member codes' longer variant has a key of its own (``LONG_PURPOSE``), so a code of one kind
is never read as the other's.
"""

from functools import lru_cache

from market.settings import Settings
from qr import Signer

LONG_PURPOSE = "qr-v1-long-member-code"


@lru_cache(maxsize=4)
def _signer(secret_key: str) -> Signer:
    return Signer.from_secrets([secret_key])


def signer_for(settings: Settings) -> Signer:
    """The QR signer, keyed by HMAC(app secret, "qr-v1")."""
    return _signer(settings.secret_key)


@lru_cache(maxsize=4)
def _long_signer(secret_key: str) -> Signer:
    return Signer.from_secrets([secret_key], purpose=LONG_PURPOSE)


def long_signer_for(settings: Settings) -> Signer:
    """The longer member codes' signer: its own key, so its steps are read by the longer
    rotation (``market.cards.service.LONG_ROTATION``)."""
    return _long_signer(settings.secret_key)
