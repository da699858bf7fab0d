"""A server process's application tunes its garbage collection once it has started; an
application built elsewhere (tests, an embedding program) keeps the interpreter's."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from tris.application.collection import THRESHOLDS
from tris.bootstrap import Services
from tris.interfaces.http.app import create_app


def test_only_a_serving_application_tunes_the_collection_once_started(
    services: Services,
) -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        with TestClient(create_app(services)) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_threshold() == before
            assert gc.get_freeze_count() == frozen
        serving = create_app(services, serving=True)
        assert gc.get_threshold() == before  # not before it starts
        with TestClient(serving) as client:
            assert client.get("/healthz").status_code == 200
            assert gc.get_threshold() == THRESHOLDS
            assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
