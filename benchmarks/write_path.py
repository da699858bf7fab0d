"""The write path alone: the library's table-locking recorder against TRIS's sequencer.

Threads each save new one-event aggregates through a stock Application for a few
seconds; the same Application class runs once on the library's own PostgreSQL
recorder (exclusive table lock per save) and once on `ParallelPostgresRecorder`
(no table lock; positions assigned after commit; also writes the hash-chain row).
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from eventsourcing.utils import get_topic

from benchmarks.stats import median
from benchmarks.stock import Orders, place, stock_env
from tris.storage.postgres_parallel import ParallelPostgresRecorder

PARALLEL = get_topic(ParallelPostgresRecorder)


class SequencedOrders(Orders):
    """The stock Application on TRIS's recorder (its own table)."""

    name = "SequencedBench"


def saves_per_second(database_url: str, recorder: str, threads: int, seconds: float) -> float:
    """Saves a second with `threads` writers (recorder: `library` or `tris`)."""
    env = stock_env(database_url)
    env["POSTGRES_POOL_SIZE"] = str(threads)
    env["POSTGRES_MAX_OVERFLOW"] = "0"
    if recorder == "tris":
        env["APPLICATION_RECORDER_TOPIC"] = PARALLEL
        app: Orders = SequencedOrders(env=env)
    else:
        app = Orders(env=env)
    numbers = itertools.count()
    counts = [0] * threads
    try:
        place(app, -1)
        start = time.perf_counter() + 0.2
        stop = start + seconds

        def writer(slot: int) -> None:
            while time.perf_counter() < start:
                time.sleep(0.001)
            while time.perf_counter() < stop:
                place(app, next(numbers))
                counts[slot] += 1

        workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=seconds + 120)
        if any(worker.is_alive() for worker in workers):
            raise RuntimeError("a writer thread did not finish: the write path hangs")
    finally:
        app.close()
    return sum(counts) / seconds


def measure(database_url: str, rounds: int, seconds: float = 3.0) -> dict[str, Any]:
    """Both recorders at 1 and 16 writer threads, medians over rounds."""
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for recorder in ("library", "tris"):
            for threads in (1, 16):
                key = f"write_path_{recorder}_t{threads}_per_s"
                rate = saves_per_second(database_url, recorder, threads, seconds)
                samples.setdefault(key, []).append(rate)
    return {key: median(values) for key, values in samples.items()}
