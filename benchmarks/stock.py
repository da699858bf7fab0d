"""The stock library on its own: a plain aggregate and Application on PostgreSQL.

Used twice: `library_save_per_s` (Application.save in one thread) and the naive peer
(the same save behind a FastAPI endpoint). Nothing of TRIS is involved.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from tris.config import parse_database_url


class Order(Aggregate):
    """A minimal aggregate: created with a name and a quantity, one event."""

    @event("Placed")
    def __init__(self, name: str, quantity: int) -> None:
        self.name = name
        self.quantity = quantity


class Orders(Application[UUID]):
    """A stock eventsourcing Application (the library's own PostgreSQL recorder)."""

    name = "LibraryBench"


def stock_env(database_url: str) -> dict[str, str]:
    """The library's environment for a database, with its defaults for everything else."""
    _, parts = parse_database_url(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"],
        "POSTGRES_PORT": parts["port"],
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"],
    }


def open_orders(database_url: str) -> Orders:
    """The stock application on a database (creates its table on first use)."""
    return Orders(env=stock_env(database_url))


def place(app: Orders, number: int) -> UUID:
    """One request's worth of work: build one aggregate and save it."""
    order = Order(name=f"order {number}", quantity=number % 7 + 1)
    app.save(order)
    return order.id


def saves_per_second(database_url: str, seconds: float) -> dict[str, Any]:
    """Saves in one thread for about `seconds`: one new aggregate with one event per save."""
    app = open_orders(database_url)
    try:
        place(app, -1)  # connect and prepare before the clock starts
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            place(app, count)
            count += 1
        elapsed = time.perf_counter() - started
    finally:
        app.close()
    return {"saves": count, "seconds": elapsed, "per_s": count / elapsed}
