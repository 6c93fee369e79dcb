"""What users read when something is refused: one text per reason, in Chinese and English.

The texts live in the one translation system (``market.translations``): the catalogues'
``problems.po``, each in the context (``msgctxt``) of its reason, its English text the message
id. Chinese is the default; English is used when ``Accept-Language`` prefers it. Texts may use
``{placeholders}`` filled from the error's parameters.
"""

from collections.abc import Iterator, Mapping
from functools import cache

from litestar.connection import ASGIConnection

from market.translations import LANGUAGES, Language, catalogue_file, translations

__all__ = ["LANGUAGE_COOKIE", "MESSAGES", "Language", "language_of", "message", "preferred_language"]

#: The reader's chosen language, kept by the pages' switch (``market.web.i18n``).
LANGUAGE_COOKIE = "market_lang"

#: The catalogue of refusals.
PROBLEMS = "problems.po"


@cache
def _english() -> dict[str, str]:
    """reason → its English text (the message id), in the catalogue's order."""
    return {entry.context: entry.id for entry in catalogue_file("zh", PROBLEMS) if entry.context}


class _Messages(Mapping[str, tuple[str, str]]):
    """reason → (Chinese, English), as the catalogues have them."""

    def __getitem__(self, reason: str) -> tuple[str, str]:
        english = _english()[reason]
        return translations("zh").pgettext(reason, english), translations("en").pgettext(reason, english)

    def __iter__(self) -> Iterator[str]:
        return iter(_english())

    def __len__(self) -> int:
        return len(_english())


MESSAGES: Mapping[str, tuple[str, str]] = _Messages()


def language_of(request: ASGIConnection) -> Language:
    """The reader's language, for a page or an API answer: the cookie's choice, else the
    browser's Accept-Language, else Chinese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen  # type: ignore[return-value]
    return preferred_language(request.headers.get("accept-language"))


def preferred_language(accept_language: str | None) -> Language:
    """Pick zh or en from an Accept-Language header; Chinese unless English is preferred."""
    best: tuple[float, Language] = (0.0, "zh")
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("zh", "en"):
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as browsers list them in order of preference.
        score = quality - position * 1e-6
        if score > best[0]:
            best = (score, primary)  # type: ignore[assignment]
    return best[1]


def message(reason: str, language: Language, **params: object) -> str:
    """The catalog's text for ``reason``; an unknown reason gets the generic one."""
    english = _english()
    if reason not in english:
        reason = "bad_request"
    text = translations(language).pgettext(reason, english[reason])
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text.split("{")[0].rstrip("：: ")
