"""Partner recipes for rebuild tests (module-level: a partner process imports them)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from tris.application.readmodels.base import Projection


class UnwritableProjectionsError(RuntimeError):
    """The projections a faulty recipe cannot make."""


def refusing_projections() -> Sequence[Projection]:
    """A recipe's projections that cannot be made."""
    raise UnwritableProjectionsError("no projections here")


def dying_log() -> None:
    """A recipe's log whose opening ends the process at once, saying nothing."""
    os._exit(3)
