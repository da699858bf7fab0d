"""Update the portal's German catalogue from the texts in its templates and code.

    .venv/bin/python scripts/update-messages.py

Extracts every message (Babel, with Jinja2's extractor), keeps the translations already in
`tris/interfaces/web/locale/de/LC_MESSAGES/messages.po`, adds new messages untranslated and
drops those no longer used. `tests/unit/test_web_i18n.py` fails while any message has no
German translation.
"""

from __future__ import annotations

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from tris.interfaces.web.i18n import catalogue_source, portal_messages


def main() -> None:
    german = catalogue_source("de")
    old: dict[str, str] = {}
    if german.exists():
        with german.open("rb") as handle:
            for message in read_po(handle, locale="de"):
                if message.id and isinstance(message.id, str):
                    old[message.id] = str(message.string or "")
    catalog = Catalog(locale="de", project="TRIS", domain="messages", charset="utf-8")
    messages = portal_messages()
    for message in messages:
        catalog.add(message, old.get(message, ""))
    german.parent.mkdir(parents=True, exist_ok=True)
    with german.open("wb") as handle:
        write_po(handle, catalog, width=100, omit_header=False, sort_output=False)
    missing = [m for m in messages if not old.get(m)]
    print(f"{len(catalog)} messages, {len(missing)} without a German translation")  # noqa: T201


if __name__ == "__main__":
    main()
