"""Which communities a person's points reach beyond their own: the facts the cards, the points and
personal data need from the 街道 (subdistrict) level, kept here, below them, so that they need not
import the office's package (``market.subdistricts``, which sits above the reports it shows).

- ``SHARED``: whether two communities of one subdistrict redeem each other's points (通存通兑),
  as a column of a query about a person ``p`` (the counter reads it with the person it scanned).
- ``wallet_communities``: the communities a person has had a wallet in — their own and those a
  move of house (``market.subdistricts.moves``) took them out of or into.
"""

from market.db import fetch

#: ``sharing`` as a column of a query about a person ``p``, its one ``{}`` the shop's community:
#: the counter reads it with the person it scanned, in one round trip (``market.cards``).
SHARED = (
    "(SELECT s.shared_redemption FROM subdistrict_community a"
    " JOIN subdistrict_community b ON b.subdistrict = a.subdistrict"
    " JOIN subdistrict s ON s.id = a.subdistrict WHERE a.community = p.community AND b.community = {})"
)


async def wallet_communities(person_id: int, community_id: int) -> list[int]:
    """The communities a person has had a wallet in: this one and those moved out of or into."""
    rows = await fetch(
        "SELECT from_community AS c FROM house_move WHERE person = {} AND state = 'done'"
        " UNION SELECT to_community FROM house_move WHERE person = {} AND state = 'done'",
        person_id, person_id,
    )
    return sorted({community_id, *(row["c"] for row in rows)})
