"""The time zone the product lives in: every Beijing date and time — a day's accounts, a month's
settlement, the shop's opening hours, expiry dates, certificates, receipts — is read in ``CHINA``.
One constant, so that no module can disagree about what "today" is."""

from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
