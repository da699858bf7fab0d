"""The portal served for real (uvicorn on a free port, the Berlin demo on SQLite) and Debian's
Chromium driven by Playwright. Never `playwright install`: the browser is the system's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, Portal
from tests.support.http import build_services
from tests.support.server import free_port
from tris.application.access import Role
from tris.demo import load_demo
from tris.interfaces.http.app import create_app


@pytest.fixture(scope="session")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    directory = tmp_path_factory.mktemp("portal")
    services = build_services(f"sqlite:///{directory / 'portal.db'}")
    demo = load_demo(services)
    services.integrity.issue_checkpoint()
    auditor = services.tokens.issue(Role.AUDITOR).token
    port = free_port()
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the portal did not start"
        time.sleep(0.1)
    yield Portal(base, demo, auditor, services)
    server.should_exit = True
    thread.join(timeout=30)
    services.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    assert Path(CHROMIUM).exists(), (
        f"Chromium is missing at {CHROMIUM}: `make test` installs Debian's chromium "
        "(scripts/ensure-chromium.sh); never `playwright install`"
    )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()
