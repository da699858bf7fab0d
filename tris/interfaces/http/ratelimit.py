"""Per-token rate limiting: an in-process token bucket for each API token."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# The most buckets one limiter keeps (one per token or client address).
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Allows each key `per_minute` requests a minute, refilled continuously.

    The buckets live in this process: with several server processes each enforces the
    limit on its own share of the traffic.
    """

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def _make_room(self, now: float) -> None:
        """Forget buckets that have filled up again (the same as no bucket); if that is not
        enough, the fuller half: a client that spent its allowance keeps its empty bucket,
        and memory stays bounded however many clients (addresses) come and go."""

        def level(key: str) -> float:
            bucket = self._buckets[key]
            return bucket.tokens + (now - bucket.updated) * self.refill_per_second

        for key in [key for key in self._buckets if level(key) >= self.capacity]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            fullest = sorted(self._buckets, key=level, reverse=True)
            for key in fullest[: len(fullest) // 2 + 1]:
                del self._buckets[key]

    def acquire(self, key: str) -> int | None:
        """Take one request from the key's bucket: None if allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._make_room(now)
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.refill_per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            missing = 1.0 - bucket.tokens
        return max(1, math.ceil(missing / self.refill_per_second))
