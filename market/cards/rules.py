"""What a member code is, as the cards' API shapes (``market.cards.schemas``) state it and the
service (``market.cards.service``) issues and checks it: its rotation, and its longest text.
Constants only, no database; activities' rotating codes turn with the same ``ROTATION``.
"""

from qr import Rotation

ROTATION = Rotation()
MAX_CODE_LENGTH = 200
