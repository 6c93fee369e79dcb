"""The limits of what a subdistrict's office and a community's admins may send, and the states a
move of house passes through: shared by the shapes of the API (``market.subdistricts.schemas``)
and the services that check the values (``service``, ``moves``)."""

from typing import Literal

#: A subdistrict's name (``service.clean_name``).
MAX_NAME = 40
#: A subdistrict groups tens to hundreds of communities (a town); more in one request is a mistake.
MAX_COMMUNITIES = 500
#: A refused move's reason (``moves.refuse``).
MAX_REASON = 200

#: Asked (pending), then approved (done), refused by B's admin or cancelled by A's.
State = Literal["pending", "done", "refused", "cancelled"]
