"""Update the portal's German catalogue from the texts in its templates and code.

    .venv/bin/python scripts/update-messages.py

Extracts every message (Babel, with Jinja2's extractor), keeps the translations already in
`tris/interfaces/web/locale/de/LC_MESSAGES/messages.po`, adds new messages untranslated and
drops those no longer used. A test fails while any message has no German translation.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).resolve().parent.parent / "tris" / "interfaces" / "web"
CONFIG = WEB / "locale" / "babel.cfg"
GERMAN = WEB / "locale" / "de" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "page_text": (2,)}


def messages() -> list[str]:
    """Every message id in the portal, in the order they first appear."""
    with CONFIG.open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found: dict[str, None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, str):
            found.setdefault(message, None)
    return list(found)


def main() -> None:
    old: dict[str, str] = {}
    if GERMAN.exists():
        with GERMAN.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if message.id and isinstance(message.id, str):
                    old[message.id] = str(message.string or "")
    catalog = Catalog(locale="de", project="TRIS", domain="messages", charset="utf-8")
    for message in messages():
        catalog.add(message, old.get(message, ""))
    GERMAN.parent.mkdir(parents=True, exist_ok=True)
    with GERMAN.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False)
    missing = [m for m in messages() if not old.get(m)]
    print(f"{len(catalog)} messages, {len(missing)} without a German translation")  # noqa: T201


if __name__ == "__main__":
    main()
