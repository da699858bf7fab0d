"""Routes whose plain `def` endpoints run on TRIS's own threads (ADR 37).

A route that reads or writes the database is a plain `def`: its work blocks (a statement,
the durable commit of its command's batch) and must not stop the event loop. FastAPI runs
such an endpoint through anyio's thread pool, and validates its answer there in a second
hop; each hop costs ~45 µs of CPU under the GIL (measured with uvloop: anyio's `run_sync`
against ~15 µs for the loop's `run_in_executor`). `OffLoopRoute` gives FastAPI an
`async def` in its place that runs the endpoint once on a plain thread pool, with the
request's context variables, so the answer is validated on the loop without a second hop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.routing import APIRoute

# As many threads as anyio lends sync endpoints by default: requests beyond them queue.
ROUTE_THREADS = 40


@functools.cache
def route_executor() -> ThreadPoolExecutor:
    """This process's thread pool for blocking endpoints (made at its first use)."""
    return ThreadPoolExecutor(ROUTE_THREADS, thread_name_prefix="tris-route")


# A forked child has none of its parent's threads: it makes its own pool.
os.register_at_fork(after_in_child=route_executor.cache_clear)


def off_loop(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """An `async def` with `endpoint`'s signature (FastAPI reads it through `__wrapped__`)
    that runs `endpoint` on the route threads with the caller's context variables."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        call = functools.partial(contextvars.copy_context().run, endpoint, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(route_executor(), call)

    return run


class OffLoopRoute(APIRoute):
    """An API route that runs a plain `def` endpoint with `off_loop`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.isfunction(endpoint) and not inspect.iscoroutinefunction(endpoint):
            endpoint = off_loop(endpoint)
        super().__init__(path, endpoint, **kwargs)
