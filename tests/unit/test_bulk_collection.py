"""Garbage collection of a rebuild and of a server process, tuned for their work."""

from __future__ import annotations

import gc

import pytest

from tris.application.collection import THRESHOLDS, bulk_collection, serving_collection


def test_a_rebuild_collects_rarely_and_leaves_the_earlier_settings_behind() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    held = [object() for _ in range(10)]  # objects the process held before
    with bulk_collection():
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > frozen  # held out of every collection meanwhile
        with bulk_collection():  # a second rebuild in the same process
            assert gc.get_threshold() == THRESHOLDS
        assert gc.get_threshold() == THRESHOLDS  # the first still runs
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    assert held


def test_a_failing_rebuild_restores_the_settings_too() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("the stage failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_a_server_process_collects_rarely_once_it_has_started() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    held = [object() for _ in range(10)]
    try:
        serving_collection()
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > frozen  # what it held at the start is left alone
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
    assert held
