"""The Berlin demo: partners of the three sectors and five agreements between them.

Outside the layers: only the command line and the tests import it. It plays its stories
through the use cases of a built `Services`.
"""

from __future__ import annotations

from tris.bootstrap import Services
from tris.demo.results import DemoAgreement, DemoData, DemoParty
from tris.demo.stories import BerlinStories
from tris.domain.party import Party

__all__ = ["DemoAgreement", "DemoData", "DemoParty", "demo_data_exists", "load_demo"]


def demo_data_exists(services: Services) -> bool:
    """True when the database already holds a party (the demo belongs in an empty one)."""
    topic = f"{Party.__module__}:{Party.Registered.__qualname__}"
    return bool(services.store.log.notifications(None, 1, topics=[topic]))


def load_demo(services: Services) -> DemoData:
    """Register the demo parties and play the five agreements through the use cases."""
    return BerlinStories(services).play()
