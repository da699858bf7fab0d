"""Group commit: saves that arrive together share a batch; each keeps its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

import pytest

from tests.support.concurrency import joined
from tris.storage.group_commit import GroupCommit, Write


class Engine:
    """A storage engine that records its batches; its first commit waits to be released,
    so that every save submitted meanwhile queues behind it."""

    def __init__(self, refuse: set[str] | None = None, fail_batch: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.settled: list[list[str]] = []
        self.refuse = refuse or set()
        self.fail_batch = fail_batch
        self.first_started = threading.Event()
        self.release = threading.Event()

    def commit(self, batch: list[Write]) -> None:
        names = [w.payload for w in batch]
        self.batches.append(names)
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release.wait(10)
        if self.fail_batch == len(self.batches):
            raise ConnectionError("the database went away")
        for write in batch:
            if write.payload in self.refuse:
                write.error = ValueError(f"{write.payload} refused")

    def settle(self, batch: list[Write]) -> None:
        self.settled.append([w.payload for w in batch])
        for write in batch:
            write.result = f"{write.payload} saved"


def submit_all(
    group: GroupCommit, engine: Engine, saves: list[tuple[str, frozenset[Hashable]]]
) -> dict[str, Any]:
    """Submit a first save, hold its commit, submit the rest meanwhile, then release."""
    outcomes: dict[str, Any] = {}

    def save(name: str, keys: frozenset[Hashable]) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[name] = group.submit(name, keys)
            except Exception as error:  # the outcome this save reports
                outcomes[name] = error

        return run

    first = threading.Thread(target=save(*saves[0]))
    first.start()
    assert engine.first_started.wait(10)
    others = [threading.Thread(target=save(*s)) for s in saves[1:]]
    for thread in others:
        thread.start()
    while len(group._queue) < len(others):  # every other save is queued behind the first
        threading.Event().wait(0.005)
    engine.release.set()
    joined(first, *others)
    return outcomes


def test_saves_arriving_while_a_batch_commits_share_the_next_one() -> None:
    engine = Engine()
    group = GroupCommit(engine.commit, engine.settle)
    saves = [(f"s{n}", frozenset({f"a{n}"})) for n in range(9)]
    outcomes = submit_all(group, engine, saves)
    assert outcomes == {f"s{n}": f"s{n} saved" for n in range(9)}
    assert engine.batches[0] == ["s0"]
    assert sorted(engine.batches[1]) == [f"s{n}" for n in range(1, 9)]
    assert len(engine.batches) == 2
    assert (group.batches, group.saves) == (2, 9)


def test_two_saves_of_one_aggregate_never_share_a_batch() -> None:
    engine = Engine()
    group = GroupCommit(engine.commit, engine.settle)
    saves = [
        ("first", frozenset({"x"})),
        ("x-1", frozenset({"a"})),
        ("x-2", frozenset({"a", "b"})),
        ("y", frozenset({"c"})),
    ]
    outcomes = submit_all(group, engine, saves)
    assert all(outcome == f"{name} saved" for name, outcome in outcomes.items())
    for batch in engine.batches:
        assert not {"x-1", "x-2"} <= set(batch)
    assert len(engine.batches) == 3


def test_a_batch_is_never_larger_than_its_bound() -> None:
    engine = Engine()
    group = GroupCommit(engine.commit, engine.settle, max_batch=3)
    saves = [(f"s{n}", frozenset({n})) for n in range(8)]
    outcomes = submit_all(group, engine, saves)
    assert len(outcomes) == 8
    assert [len(b) for b in engine.batches] == [1, 3, 3, 1]


def test_a_save_refused_on_its_own_fails_alone() -> None:
    engine = Engine(refuse={"s2"})
    group = GroupCommit(engine.commit, engine.settle)
    outcomes = submit_all(group, engine, [(f"s{n}", frozenset({n})) for n in range(5)])
    assert isinstance(outcomes["s2"], ValueError)
    assert {k: v for k, v in outcomes.items() if k != "s2"} == {
        f"s{n}": f"s{n} saved" for n in (0, 1, 3, 4)
    }
    # The refused save is not settled: it has no positions to look up.
    assert "s2" not in [name for batch in engine.settled for name in batch]


def test_a_transaction_that_fails_whole_fails_every_save_in_it_and_only_those() -> None:
    engine = Engine(fail_batch=2)
    group = GroupCommit(engine.commit, engine.settle)
    outcomes = submit_all(group, engine, [(f"s{n}", frozenset({n})) for n in range(4)])
    assert outcomes["s0"] == "s0 saved"
    assert all(isinstance(outcomes[f"s{n}"], ConnectionError) for n in (1, 2, 3))
    # The next save has a batch of its own again.
    assert group.submit("later", frozenset({"z"})) == "later saved"


def test_a_failure_while_settling_reaches_every_committed_save_of_the_batch() -> None:
    def settle(batch: list[Write]) -> None:
        raise TimeoutError("no positions")

    group = GroupCommit(lambda batch: None, settle)
    with pytest.raises(TimeoutError):
        group.submit("alone", frozenset({"a"}))
