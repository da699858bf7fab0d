"""The portal's languages: every text translated, the language chosen as browsers ask,
dates and numbers written as each language writes them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from babel.messages.pofile import read_po

from tris.interfaces.web.i18n import Formats, catalogue_source, choose, portal_messages

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def german() -> dict[str, str]:
    with catalogue_source("de").open("rb") as handle:
        return {
            str(m.id): str(m.string or "")
            for m in read_po(handle, locale="de")
            if m.id and isinstance(m.id, str)
        }


def test_every_text_of_the_portal_has_a_german_translation() -> None:
    messages = portal_messages()
    assert len(messages) > 200  # the extraction reads the templates, not nothing
    translated = german()
    missing = [m for m in messages if not translated.get(m)]
    assert not missing, f"run scripts/update-messages.py and translate: {missing}"


def test_translations_keep_every_placeholder() -> None:
    for message, translation in german().items():
        assert sorted(PLACEHOLDER.findall(message)) == sorted(PLACEHOLDER.findall(translation)), (
            message
        )


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        (None, None, "de"),
        ("en", "de-DE", "en"),
        ("fr", "en-GB,en;q=0.9", "en"),
        (None, "fr-FR,fr;q=0.9,en;q=0.8,de;q=0.7", "en"),
        (None, "en;q=0.2,de;q=0.9", "de"),
        (None, "en;q=0", "de"),
        (None, "en;q=abc", "de"),
        (None, "x" * 10_000, "de"),
    ],
)
def test_the_language_follows_the_query_then_the_browser_then_german(
    query: str | None, header: str | None, expected: str
) -> None:
    assert choose(query, header) == expected


def test_dates_and_numbers_are_written_per_language() -> None:
    de, en = Formats("de"), Formats("en")
    assert de.number("1234.5") == "1.234,5"
    assert en.number("1234.5") == "1,234.5"
    assert de.percent("0.6667") == "66,7\xa0%"
    assert en.percent("0.6667") == "66.7%"
    assert de.day(date(2026, 12, 4)) == "04.12.2026"
    assert en.day("2026-12-04") == "Dec 4, 2026"
    moment = datetime(2026, 12, 4, 9, 15, tzinfo=UTC)
    assert de.moment(moment) == "04.12.2026, 09:15:00 UTC"
    assert de.moment("not a time") == ""
    assert de.number("twelve") == "twelve"
