"""The browser tests' shared pieces: where Chromium is, how it starts, the served portal."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tris.bootstrap import Services
from tris.demo.results import DemoData

CHROMIUM = os.environ.get("TRIS_CHROMIUM", "/usr/lib/chromium/chromium")
# As root, on a closed network: no sandbox, and none of the browser's own connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@dataclass
class Portal:
    """The served portal: its address, the demo's data and an auditor's token."""

    base: str
    demo: DemoData
    auditor_token: str
    services: Services
