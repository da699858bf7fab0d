"""The portal in a real browser: every page type in German and English, at 1280 px and at
320 px, with 0 axe-core violations of the WCAG 2.1 A/AA rules; keyboard walks; sign-in and
sign-out; the offline API docs; and nothing unpublished or personal without a token.

Screenshots of each page are written to `test-output/screenshots/` for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import SCREENSHOTS, Portal
from tris.application.access import Principal, Role
from tris.interfaces.web.audit import sessions
from tris.interfaces.web.sessions import COOKIE

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = (1280, 320)
LANGUAGES = ("de", "en")


def agreement(portal: Portal, handle: str) -> str:
    return next(a.agreement_id for a in portal.demo.agreements if a.handle == handle)


def party(portal: Portal, handle: str) -> str:
    return next(p.party_id for p in portal.demo.parties if p.handle == handle)


def page_types(portal: Portal, *, audit: bool = False) -> dict[str, str]:
    """One address of every page type, from the demo (with `audit`, the signed-in ones
    too)."""
    published = agreement(portal, "marktplatz")  # revised to public, then amended
    market = portal.demo.markets[0].market_id
    return {
        "home": "/",
        "agreements": "/agreements",
        "search": "/agreements?q=Markt&status=completed",
        "by-party": f"/agreements?party={party(portal, 'baeckerei')}",
        "record": f"/agreements/{published}",
        "compare": f"/agreements/{published}/compare?old=1&new=3",
        "certificate": f"/agreements/{published}/revisions/3/certificate",
        "event": f"/agreements/{published}/events/2",
        "party": f"/parties/{party(portal, 'netzwerk')}",
        "network": f"/networks/{party(portal, 'netzwerk')}",
        "markets": "/markets",
        "market": f"/markets/{market}",
        "login": "/audit/login",
        "not-found": f"/agreements/{agreement(portal, 'haus')}",
        **(
            {
                "audit-agreements": "/audit/agreements",
                "audit-record": f"/audit/agreements/{agreement(portal, 'haus')}",
                "audit-compare": f"/audit/agreements/{agreement(portal, 'haus')}/compare",
            }
            if audit
            else {}
        ),
    }


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def sign_in(portal: Portal, context: BrowserContext) -> None:
    """Give the browser an auditor's session, as the sign-in form would."""
    services = portal.services
    issued = services.tokens.issue(Role.AUDITOR)
    cookie = sessions(services).issue(Principal(issued.token_id, Role.AUDITOR))
    context.add_cookies([{"name": COOKIE, "value": cookie, "url": portal.base}])


def axe_violations(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    return list(results.response["violations"])


def described(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
    )


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_type_passes_axe_and_reflows(
    portal: Portal, context: BrowserContext, language: str, width: int
) -> None:
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 900})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures = []
    for name, path in page_types(portal, audit=True).items():
        if name == "audit-agreements":  # the public pages (and the sign-in form) first
            sign_in(portal, context)
        separator = "&" if "?" in path else "?"
        answer = page.goto(f"{portal.base}{path}{separator}lang={language}")
        assert answer is not None
        expected = 404 if name == "not-found" else 200
        assert answer.status == expected, (name, answer.status)
        assert page.url.startswith(f"{portal.base}{path.split('?')[0]}"), (name, page.url)
        assert page.locator("html").get_attribute("lang") == language, (name, page.url)
        assert page.locator("h1").count() == 1, name
        violations = axe_violations(page)
        if violations:
            failures.append(f"{name} [{language}, {width}px]:\n{described(violations)}")
        # Reflow (WCAG 1.4.10): nothing but the wide tables' own scroll regions scrolls
        # sideways at 320 CSS pixels.
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width + 1, (name, language, width, overflow)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}-{width}.png"), full_page=True)
    assert not failures, "\n\n".join(failures)


def test_german_is_the_default_and_english_follows_the_browser(
    portal: Portal, browser: Browser
) -> None:
    # A browser that asks for a language TRIS does not speak gets German.
    german = browser.new_context(locale="fr-FR")
    page = german.new_page()
    page.goto(f"{portal.base}/agreements")
    assert page.locator("html").get_attribute("lang") == "de"
    expect(page.locator("h1")).to_have_text("Vereinbarungen")
    german.close()
    english = browser.new_context(locale="en-GB", extra_http_headers={"Accept-Language": "en"})
    page = english.new_page()
    page.goto(f"{portal.base}/agreements")
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("h1")).to_have_text("Agreements")
    # The language switch keeps the page and says which language it is.
    page.get_by_role("link", name="Deutsch").click()
    assert page.locator("html").get_attribute("lang") == "de"
    english.close()


def test_dates_and_numbers_follow_the_language(portal: Portal, context: BrowserContext) -> None:
    page = context.new_page()
    record = f"/agreements/{agreement(portal, 'marktplatz')}"
    page.goto(f"{portal.base}{record}?lang=de")
    german = page.locator("time").first.inner_text()
    page.goto(f"{portal.base}{record}?lang=en")
    english = page.locator("time").first.inner_text()
    assert re.search(r"\d{2}\.\d{2}\.\d{4}", german), german
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", english), english
    assert page.locator("time").first.get_attribute("datetime")


def test_keyboard_walks_the_list_to_a_record_and_its_proof(
    portal: Portal, context: BrowserContext
) -> None:
    page = context.new_page()
    page.goto(f"{portal.base}/agreements?lang=en")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Search by keyboard only: into the text field, type, submit with Enter.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("Marktplatz")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"q=Marktplatz"))
    titles = page.locator("table.list tbody th a")
    assert titles.count() >= 1
    # Tab to the first agreement's link and open it.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('table.list') !== null"):
            break
    else:
        pytest.fail("the list's links cannot be reached by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/agreements/[0-9a-f-]{36}"))
    # On the record, the first badge leads to the verification's checks.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('.badges') !== null"):
            break
    else:
        pytest.fail("the badges cannot be reached by keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#checks$"))
    expect(page.locator("#checks-caption")).to_be_visible()


def test_keyboard_compares_two_revisions(portal: Portal, context: BrowserContext) -> None:
    page = context.new_page()
    published = agreement(portal, "marktplatz")
    page.goto(f"{portal.base}/agreements/{published}/compare?lang=en")
    page.focus("#old")
    page.keyboard.press("Home")  # revision 1
    page.focus("#new")
    page.keyboard.press("End")  # the latest revision
    page.focus("button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"old=1&new=3"))
    # Insertions and deletions are marked in text, not by colour alone.
    assert page.locator("ins .marker").first.inner_text() == "[inserted:]"
    assert page.locator("del .marker").first.inner_text() == "[deleted:]"
    assert page.get_by_text("publication").count() >= 1


def test_an_auditor_signs_in_sees_restricted_agreements_and_signs_out(
    portal: Portal, context: BrowserContext
) -> None:
    restricted = agreement(portal, "haus")
    page = context.new_page()
    # Not signed in: the audit pages send to the form.
    page.goto(f"{portal.base}/audit/agreements?lang=en")
    page.wait_for_url(re.compile(r"/audit/login"))
    page.fill("#token", "tris_not-a-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    page.fill("#token", portal.auditor_token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/audit/agreements"))
    cookie = next(c for c in context.cookies() if c["name"] == "tris_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert portal.auditor_token not in cookie["value"]
    assert page.get_by_role("link", name=re.compile("Haus der Kooperation")).count() == 1
    page.goto(f"{portal.base}/audit/agreements/{restricted}?lang=en")
    expect(page.locator("h1")).to_contain_text("Haus der Kooperation")
    assert axe_violations(page) == []
    page.screenshot(path=str(SCREENSHOTS / "audit-record-en-1280.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{portal.base}/")
    assert not [c for c in context.cookies() if c["name"] == "tris_session"]
    page.goto(f"{portal.base}/audit/agreements/{restricted}")
    page.wait_for_url(re.compile(r"/audit/login"))


def test_a_sign_in_without_the_forms_csrf_value_is_refused(
    portal: Portal, context: BrowserContext
) -> None:
    answer = context.request.post(
        f"{portal.base}/audit/login",
        form={"token": portal.auditor_token},
        max_redirects=0,
    )
    assert answer.status == 403
    assert not [c for c in context.cookies() if c["name"] == "tris_session"]


def test_the_api_docs_work_with_no_network(portal: Portal, context: BrowserContext) -> None:
    outside: list[str] = []

    def only_the_portal(route: Any) -> None:
        if route.request.url.startswith(portal.base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_portal)
    page = context.new_page()
    page.goto(f"{portal.base}/docs")
    operations = page.locator(".opblock")
    operations.first.wait_for(timeout=30_000)
    assert operations.count() >= 50
    expect(page.get_by_text("/v1/public/agreements/{agreement_id}").first).to_be_visible()
    assert outside == []
    page.screenshot(path=str(SCREENSHOTS / "docs-1280.png"))


def test_nothing_unpublished_or_personal_is_shown_without_a_token(
    portal: Portal, context: BrowserContext
) -> None:
    page = context.new_page()
    seen = []
    for path in page_types(portal).values():
        page.goto(f"{portal.base}{path}")
        seen.append(page.content())
    text = "\n".join(seen)
    for hidden in ("Haus der Kooperation", "Murat Demir", "@", "contacts"):
        assert hidden not in text.replace("&#64;", "@"), hidden
    restricted = agreement(portal, "haus")
    for tail in ("", "/compare", "/revisions/1/certificate", "/events/1"):
        answer = page.goto(f"{portal.base}/agreements/{restricted}{tail}")
        assert answer is not None and answer.status == 404, tail


def test_the_axe_harness_reports_what_it_should(context: BrowserContext) -> None:
    """The zero above means something: the same run finds a missing alt text and label."""
    page = context.new_page()
    page.set_content(
        '<html lang="de"><head><title>t</title></head><body><main><h1>x</h1>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input id="n"></main></body></html>'
    )
    found = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "label"} <= found


def test_an_open_markets_tally_refreshes_itself(portal: Portal, context: BrowserContext) -> None:
    market = next(m.market_id for m in portal.demo.markets if m.handle == "aktionstag")
    spedition = next(p for p in portal.demo.parties if p.handle == "spedition")
    page = context.new_page()
    page.clock.install()
    page.goto(f"{portal.base}/markets/{market}?lang=en")
    offers = page.locator('[data-figure="offers"]')
    before = int(offers.inner_text())
    posted = context.request.post(
        f"{portal.base}/v1/markets/{market}/offers",
        data={
            "kind": "expertise",
            "quantity": "3",
            "unit": "hours",
            "description": "Beratung zum Vereinsrecht",
        },
        headers={"Authorization": f"Bearer {spedition.token}", "Idempotency-Key": "tally-1"},
    )
    assert posted.status == 201, posted.text()
    assert int(offers.inner_text()) == before  # nothing changes by itself before the refresh
    page.clock.run_for(16_000)
    expect(offers).to_have_text(str(before + 1))
