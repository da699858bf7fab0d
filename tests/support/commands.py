"""Command contexts for store tests, and a gate that holds saves until the test lets them go."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.scenario import Member
from tris.application.store import CommandContext, IdempotencyRequest
from tris.bootstrap import Services


def ctx(
    member: Member, key: str, fingerprint: str = "fp-1", expected_version: int | None = None
) -> CommandContext:
    """A context acting as `member` with an Idempotency-Key."""
    return CommandContext(
        member.principal.actor,
        expected_version=expected_version,
        idempotency=IdempotencyRequest(key, fingerprint, 201),
    )


def gate_saves(services: Services, before_save: Callable[[], object]) -> None:
    """Make this process call `before_save` just before it writes anything."""
    app = services.store.log.app
    original = app.save

    def save(*objs: Any, **kwargs: Any) -> Any:
        before_save()
        return original(*objs, **kwargs)

    app.save = save  # type: ignore[method-assign]
