"""Languages of the web pages: German by default, English on request; texts from gettext
catalogues (Babel), dates and numbers formatted per language.

The catalogues are `.po` files (English message ids, the German translation), compiled in
memory when the app starts: the source is the only file, so it cannot drift from a binary.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LANGUAGES = ("de", "en")
DEFAULT = "de"
LOCALE_DIR = Path(__file__).parent / "locale"
# The functions that mark a text for translation, and which argument is the text.
KEYWORDS: dict[str, tuple[int, ...] | None] = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "page_text": (2,),
}


def choose(query: str | None, accept_language: str | None) -> str:
    """The page's language: `?lang=` if it names one we speak, else the first of the
    browser's Accept-Language we speak (by weight), else German."""
    if query in LANGUAGES:
        return query
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:500].split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and weight > 0:
            wanted.append((-weight, index, primary))
    return sorted(wanted)[0][2] if wanted else DEFAULT


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of a language (English is the message ids themselves)."""
    source = catalogue_source(language)
    if not source.exists():
        return NullTranslations()
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


@cache
def locale(language: str) -> Locale:
    """Babel's locale for a language we speak."""
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


class Formats:
    """Dates, times and numbers as a language writes them (times always in UTC)."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = locale(language)

    def moment(self, value: str | datetime | None) -> str:
        """A moment, medium length, in UTC (`04.12.2026, 09:15:00 UTC`)."""
        moment = _moment(value)
        if moment is None:
            return ""
        text = format_datetime(moment, "medium", tzinfo=UTC, locale=self.locale)
        return f"{text} UTC"

    def day(self, value: str | date | None) -> str:
        """A day, medium length (`4. Dez. 2026`, `Dec 4, 2026`)."""
        if value is None or value == "":
            return ""
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        return format_date(day, "medium", locale=self.locale)

    def number(self, value: str | int | Decimal | None) -> str:
        """A decimal quantity with the language's separators (`1.234,5`)."""
        if value is None or value == "":
            return ""
        try:
            return format_decimal(Decimal(str(value)), locale=self.locale)
        except (InvalidOperation, ValueError):
            return str(value)

    def percent(self, value: str | Decimal | None) -> str:
        """A share (`0.6667` → `66,67 %`)."""
        if value is None or value == "":
            return "\u2013"  # an en dash: no figure
        try:
            share = round(Decimal(str(value)), 3)  # one decimal place of a percent
            return format_percent(share, locale=self.locale, decimal_quantization=False)
        except (InvalidOperation, ValueError):
            return str(value)


def iso_moment(value: str | datetime | None) -> str:
    """The machine-readable form for `<time datetime>`: RFC 3339 in UTC."""
    moment = _moment(value)
    return "" if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def catalogue_source(language: str) -> Path:
    """The `.po` file of a language."""
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def portal_messages() -> list[str]:
    """Every text the portal marks for translation, in the order it first appears."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (LOCALE_DIR / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)  # type: ignore[no-untyped-call]
    found: dict[str, None] = {}
    web = str(Path(__file__).parent)
    for _file, _line, message, _comments, _context in extract_from_dir(
        web, method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, str):
            found.setdefault(message, None)
    return list(found)
