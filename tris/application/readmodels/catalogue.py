"""The read models TRIS keeps, in the order the runner applies them."""

from __future__ import annotations

from tris.application.readmodels.agreements import AgreementsProjection
from tris.application.readmodels.base import Projection
from tris.application.readmodels.markets import MarketsProjection
from tris.application.readmodels.memberships import MembershipsProjection
from tris.application.readmodels.parties import PartiesProjection


def default_projections() -> list[Projection]:
    """Every read model TRIS keeps."""
    return [
        PartiesProjection(),
        AgreementsProjection(),
        MarketsProjection(),
        MembershipsProjection(),
    ]
