"""The one translation system: Babel message catalogues, Chinese by default, English by choice.

Every text users read is in ``frontend/translations/<lang>/LC_MESSAGES/*.po``: the pages' texts
(``market.web.i18n``) and the refusals of the API and the forms, keyed by reason
(``problems.po``, read by ``market.messages``). The files of a language are merged and compiled
in memory with Babel the first time it is used, so a fresh checkout needs no build step and no
``.mo`` file can go stale. Message ids are English, so the English catalogue may leave them
untranslated.
"""

import gettext
import io
from functools import lru_cache
from pathlib import Path
from typing import Literal

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Language = Literal["zh", "en"]

TRANSLATIONS = Path(__file__).resolve().parents[1] / "frontend" / "translations"
LANGUAGES: tuple[Language, ...] = ("zh", "en")
_LOCALES = {"zh": "zh_Hans_CN", "en": "en"}


def catalogue_file(language: Language, name: str) -> Catalog:
    """One .po file of ``language``, as Babel reads it."""
    with (TRANSLATIONS / language / "LC_MESSAGES" / name).open("rb") as source:
        return read_po(source, locale=_LOCALES[language])


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: Language) -> gettext.GNUTranslations:
    """The compiled catalogue of ``language``: every .po file of its directory, merged.

    ``messages.po`` holds what every page shares; each group of pages (organizer, shop
    counter, admin, …) keeps its texts in its own file beside it, so they never collide;
    ``problems.po`` holds the refusals, each in the context of its reason (``pgettext``).
    """
    directory = TRANSLATIONS / language / "LC_MESSAGES"
    catalog = None
    for path in sorted(directory.glob("*.po"), key=lambda p: (p.name != "messages.po", p.name)):
        part = catalogue_file(language, path.name)
        if catalog is None:
            catalog = part
            continue
        for entry in part:
            if entry.id:
                catalog[entry.id] = entry
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)
