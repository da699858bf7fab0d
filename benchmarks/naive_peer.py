"""The naive peer: FastAPI wired straight to the stock library's `Application.save`.

What a team gets by joining the two libraries directly: a sync endpoint builds one
aggregate and saves it on PostgreSQL. Served by uvicorn like TRIS:

    NAIVE_DATABASE_URL=postgresql://… uvicorn benchmarks.naive_peer:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from benchmarks.stock import Order, open_orders

DATABASE_URL_ENV = "NAIVE_DATABASE_URL"


class OrderCreate(BaseModel):
    """The request body: what to order."""

    name: str
    quantity: int


def create_app() -> FastAPI:
    """The naive application; each worker process opens its own Application."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.orders = open_orders(os.environ[DATABASE_URL_ENV])
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
