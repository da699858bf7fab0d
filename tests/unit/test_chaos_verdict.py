"""`make chaos` passes only when every guarantee held, and says so in its exit status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import chaos
from tris.storage.postgres import POOL_OVERFLOW, POOL_SIZE


def held() -> dict[str, Any]:
    """A result in which every guarantee held."""
    return {
        "kill_cycles": 24,
        "worker_kills": 2,
        "acknowledged": 400,
        "acknowledged_lost": 0,
        "acknowledged_position_mismatches": 0,
        "duplicates": 0,
        "readmodel_equals_rebuild": True,
        "postgres_restart_recovered": True,
        "postgres_durable": True,
        "postgres_crashes": 5,
        "postgres_crash_recovered": True,
        "concurrent_if_match_total": 32,
        "concurrent_if_match_successes": 1,
        "concurrent_if_match_412": 31,
        "idempotent_retry_events": 1,
        "server_errors_500": 0,
        "commands_given_up": 0,
        "unexpected_answer_count": 0,
        "unexpected_answers": [],
        "load_thread_error_count": 0,
        "load_thread_errors": [],
        "peak_connections": 30,
        "connection_bound": 50,
        "postgres_default_max_connections": 100,
        "duration_seconds": 300.0,
    }


BROKEN = {
    "kill_cycles": 19,
    "worker_kills": 0,
    "acknowledged": 0,
    "acknowledged_lost": 1,
    "acknowledged_position_mismatches": 1,
    "duplicates": 1,
    "readmodel_equals_rebuild": False,
    "postgres_restart_recovered": False,
    "postgres_durable": False,
    "postgres_crashes": 0,
    "postgres_crash_recovered": False,
    "concurrent_if_match_successes": 2,
    "concurrent_if_match_412": 30,
    "idempotent_retry_events": 2,
    "server_errors_500": 1,
    "commands_given_up": 1,
    "unexpected_answer_count": 1,
    "unexpected_answers": ["sign sign-c1-3-p: 422 idempotency-key-reused"],
    "load_thread_error_count": 1,
    "load_thread_errors": ["c1: KeyError: 'id'"],
    "peak_connections": 51,
    "connection_bound": 120,
    "duration_seconds": 600.0,
}


def test_a_run_in_which_every_guarantee_held_passes() -> None:
    assert chaos.verdict(held())


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_one_broken_guarantee_fails_the_run(name: str) -> None:
    assert not chaos.verdict({**held(), name: BROKEN[name]})


@pytest.mark.parametrize("passed", [True, False])
def test_the_exit_status_is_zero_only_when_every_guarantee_held(
    passed: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    document = held() if passed else {**held(), "acknowledged_lost": 3}
    monkeypatch.setattr(chaos, "LOG_DIR", tmp_path / "var")
    monkeypatch.setattr(chaos, "RESULT", tmp_path / "results" / "chaos.json")
    monkeypatch.setattr(
        chaos, "run_chaos", lambda workdir: {**document, "passed": chaos.verdict(document)}
    )

    status = chaos.main()

    written = json.loads((tmp_path / "results" / "chaos.json").read_text())
    assert written["passed"] is passed
    assert status == (0 if passed else 1)


def test_the_connection_bound_is_the_pool_each_process_may_open() -> None:
    assert chaos.CONNECTIONS_PER_PROCESS == POOL_SIZE + POOL_OVERFLOW


def test_a_load_threads_exception_is_recorded_for_the_verdict(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load = chaos.Load()

    def broken(client: Any, load: chaos.Load, trio: Any, serial: int) -> None:
        load.stop.set()
        raise KeyError("id")

    monkeypatch.setattr(chaos, "lifecycle", broken)
    monkeypatch.setattr(chaos.time, "sleep", lambda seconds: None)
    client = type("FakeClient", (), {"name": "c1"})()
    chaos.run_load_thread(client, load, [])  # type: ignore[arg-type]
    assert load.thread_errors == ["c1: KeyError: 'id'"]
