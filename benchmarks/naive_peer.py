"""The naive peer: FastAPI wired straight to the stock library's `Application.save`.

What a team gets by joining the two libraries directly: a sync endpoint builds one
aggregate and saves it on PostgreSQL. Served by uvicorn exactly as `tris serve` serves TRIS
(the same supervisor, one socket a process: ADR 33), so that the benchmark compares the
two designs, not two ways of spreading connections:

    NAIVE_DATABASE_URL=postgresql://… python -m benchmarks.naive_peer --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel

from benchmarks.stock import Order, Orders, open_orders
from tris.interfaces.cli.serve import serve_processes

DATABASE_URL_ENV = "NAIVE_DATABASE_URL"
HOST = "127.0.0.1"


class OrderCreate(BaseModel):
    """The request body: what to order."""

    name: str
    quantity: int


def _open_one_at_a_time(database_url: str) -> Orders:
    """The stock application, opened by one worker at a time: the library creates its
    schema on opening (`CREATE TYPE`, `CREATE OR REPLACE FUNCTION`), and two processes
    doing so at once fail with "tuple concurrently updated" (seen in `make bench`). Only
    the start is serialised; the requests measured are not."""
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"tris-naive-peer-{digest}.lock"
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return open_orders(database_url)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_app() -> FastAPI:
    """The naive application; each worker process opens its own Application."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.orders = _open_one_at_a_time(os.environ[DATABASE_URL_ENV])
        try:
            yield
        finally:
            app.state.orders.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/orders", status_code=201)
    def place_order(body: OrderCreate, request: Request) -> dict[str, Any]:
        order = Order(name=body.name, quantity=body.quantity)
        request.app.state.orders.save(order)
        return {"id": str(order.id), "version": order.version}

    return app


def main() -> None:
    """Serve the naive peer on 127.0.0.1 with `--workers` processes, as `tris serve` does."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = uvicorn.Config(
        "benchmarks.naive_peer:create_app",
        factory=True,
        host=HOST,
        port=args.port,
        workers=args.workers,
    )
    if args.workers > 1:
        serve_processes(config, HOST, args.port)
    else:
        uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
