"""The community's Ed25519 signing key: it signs the transparency checkpoints and the certificates.

Derived from the server's secret key (``MARKET_SECRET_KEY``) and the community's id with
HKDF-SHA256, so there is nothing more to keep safe or back up; anyone checks a signature
with the public key the transparency page publishes. Changing the secret key changes
every community's key (old checkpoints then verify only against the old public key).
"""

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from market.settings import Settings

CONTEXT = b"points-market community signing key v1"


def signing_key(settings: Settings, community_id: int) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=SHA256(), length=32, salt=None, info=CONTEXT + b":" + str(community_id).encode()
                ).derive(settings.secret_key.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(settings: Settings, community_id: int) -> Ed25519PublicKey:
    return signing_key(settings, community_id).public_key()


def public_key_hex(settings: Settings, community_id: int) -> str:
    """The raw 32-byte public key, hex: what the page publishes and the offline check takes."""
    return public_key(settings, community_id).public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
