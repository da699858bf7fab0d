"""Queries over the read models, one module per area; they never read the event log."""

from __future__ import annotations

from tris.application.readmodels.queries.agreements import AgreementQueries
from tris.application.readmodels.queries.commitments import CommitmentQueries
from tris.application.readmodels.queries.markets import MarketQueries
from tris.application.readmodels.queries.networks import NetworkQueries
from tris.application.readmodels.queries.stats import StatisticsQueries


class Queries(
    AgreementQueries, CommitmentQueries, MarketQueries, NetworkQueries, StatisticsQueries
):
    """Every query area over one database: what the interfaces call."""
