"""The bounds of the shop's values that its API's shapes (``market.shop.schemas``) state and its
services check: ``catalogue`` a product's name and limit period, ``counter`` a refund's reason,
``rules`` the opening hours. Constants only, so that every module of the shop may read them.
(Not ``rules``: that module is the shop's opening rules, and answers with the shapes.)
"""

import re

MAX_NAME = 50
#: The periods a purchase limit counts over.
PERIODS = ("day", "week", "month", "quarter", "year")
#: A refund's reason.
MAX_REASON = 200
#: An opening or closing time, "HH:MM" (``rules.parse_clock`` checks the hour and the minute).
TIME = re.compile(r"(\d{1,2}):(\d{2})")
