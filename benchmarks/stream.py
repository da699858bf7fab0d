"""The log read whole: raw decoding through the library, the read-model rebuild, aggregate loads."""

from __future__ import annotations

import time
from typing import Any

from benchmarks.stats import median, rate
from tris.bootstrap import Services

BATCH = 500  # the projection runner's batch size, so both read the log alike


def raw_decoded(services: Services) -> dict[str, Any]:
    """The library's own `select_notifications` plus decoding, over the whole log."""
    recorder = services.store.log.app.recorder
    mapper = services.store.log.app.mapper
    count, after = 0, 0
    started = time.perf_counter()
    while True:
        notes = recorder.select_notifications(start=after, limit=BATCH, inclusive_of_start=False)
        if not notes:
            break
        for note in notes:
            mapper.to_domain_event(note)
        count += len(notes)
        after = notes[-1].id
    elapsed = time.perf_counter() - started
    return {"events": count, "seconds": elapsed, "per_s": rate(count, elapsed)}


def rebuild(services: Services) -> dict[str, Any]:
    """`rebuild()` of every read model from the whole log."""
    events = services.projections.head()
    started = time.perf_counter()
    services.projections.rebuild()
    elapsed = time.perf_counter() - started
    return {"events": events, "seconds": elapsed, "per_s": rate(events, elapsed)}


def load_ms(services: Services, agreement_id: str, repeats: int) -> float:
    """Median milliseconds to load one agreement (no cache: the repository reads the store)."""
    services.store.agreement(agreement_id)  # connections and statements ready
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        services.store.agreement(agreement_id)
        samples.append((time.perf_counter() - started) * 1000)
    return median(samples)


def bundle_memory(services: Services, agreement_id: str) -> dict[str, Any]:
    """Bytes of an agreement's evidence bundle and the peak Python memory (tracemalloc)
    while it is written a piece at a time, as the HTTP endpoint sends it."""
    import tracemalloc

    from tris.application.access import Principal, Role

    auditor = Principal("benchmark-auditor", Role.AUDITOR)
    # Once untraced: what any first read loads (the Merkle log's leaves) is not the bundle's.
    for _ in services.integrity.evidence_bundle(auditor, agreement_id).chunks():
        pass
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        started = time.perf_counter()
        size = sum(
            len(chunk)
            for chunk in services.integrity.evidence_bundle(auditor, agreement_id).chunks()
        )
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"bytes": size, "peak_bytes": peak, "seconds": elapsed}
