"""A rebuild's garbage collection: tuned while rebuilds run, the process's own settings after."""

from __future__ import annotations

import gc

import pytest

from tris.application.readmodels.base import BULK_THRESHOLDS, bulk_collection


def test_a_rebuild_collects_rarely_and_leaves_the_earlier_settings_behind() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    held = [object() for _ in range(10)]  # objects the process held before
    with bulk_collection():
        assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_freeze_count() > frozen  # held out of every collection meanwhile
        with bulk_collection():  # a second rebuild in the same process
            assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_threshold() == BULK_THRESHOLDS  # the first still runs
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    assert held


def test_a_failing_rebuild_restores_the_settings_too() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with pytest.raises(RuntimeError), bulk_collection():
        raise RuntimeError("the stage failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
