"""The markets read model: markets for listing, their offers and needs, and their deals.

A deal's row follows its agreement (concluded, completed, terminated, notarised, a first
fulfilment recorded) so that a market's stats and follow-up list are answered from this
model alone; committed and fulfilled quantities come from the agreements' commitments.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from uuid import UUID

from tris.application.readmodels.base import Projection
from tris.domain.agreement import Agreement
from tris.domain.market.market import Market
from tris.domain.market.posting import Posting
from tris.storage.cursors import Cursor

# What happens to a deal's agreement, as the deal's row records it.
_AGREEMENT_STATUS = {
    Agreement.Concluded: "in_force",
    Agreement.Completed: "completed",
    Agreement.Terminated: "terminated",
    Agreement.Withdrawn: "withdrawn",
}


# How many agreements proposed outside markets a process remembers as such.
NOT_DEALS_KEPT = 100_000


class MarketsProjection(Projection):
    """Markets, their offers and needs, and the deals made at them."""

    name = "markets"
    schema_version = 1
    tables = (
        """CREATE TABLE IF NOT EXISTS rm_markets (
            market_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            title TEXT NOT NULL,
            format TEXT NOT NULL,
            region TEXT,
            venue TEXT,
            status TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            starts_on TEXT NOT NULL,
            ends_on TEXT NOT NULL,
            participants INTEGER NOT NULL,
            closed_at TEXT,
            version BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS rm_market_postings (
            posting_id TEXT PRIMARY KEY,
            market_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            side TEXT NOT NULL,
            party_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            quantity TEXT NOT NULL,
            unit TEXT NOT NULL,
            description TEXT NOT NULL,
            corner TEXT,
            status TEXT NOT NULL,
            deal_id TEXT,
            agreement_id TEXT,
            version BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS rm_market_deals (
            agreement_id TEXT PRIMARY KEY,
            market_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            deal_id TEXT NOT NULL,
            broker TEXT,
            offer_id TEXT,
            need_id TEXT,
            status TEXT NOT NULL,
            concluded BOOLEAN NOT NULL,
            notarised BOOLEAN NOT NULL,
            fulfilments INTEGER NOT NULL)""",
    )
    indexes = (
        "CREATE INDEX IF NOT EXISTS rm_markets_seq ON rm_markets (seq)",
        "CREATE INDEX IF NOT EXISTS rm_market_postings_market "
        "ON rm_market_postings (market_id, side, seq)",
        "CREATE INDEX IF NOT EXISTS rm_market_deals_market ON rm_market_deals (market_id, seq)",
    )
    digest_queries = (
        "SELECT market_id, title, format, region, venue, status, starts_at, ends_at, "
        "starts_on, ends_on, participants, closed_at, version FROM rm_markets "
        "ORDER BY seq, market_id",
        "SELECT posting_id, market_id, side, party_id, kind, quantity, unit, description, "
        "corner, status, deal_id, agreement_id, version FROM rm_market_postings "
        "ORDER BY seq, posting_id",
        "SELECT agreement_id, market_id, deal_id, broker, offer_id, need_id, status, "
        "concluded, notarised, fulfilments FROM rm_market_deals ORDER BY seq, agreement_id",
    )

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply Market, Posting and (for deals) Agreement events; others are ignored."""
        name = type(event).__qualname__
        if name.startswith("Market."):
            self._market(cur, position, event)
        elif name.startswith("Posting."):
            self._posting(cur, position, event)
        elif name.startswith("Agreement."):
            self._deal(cur, position, event)

    def _market(self, cur: Cursor, position: int, event: Any) -> None:
        market_id = str(event.originator_id)
        version = event.originator_version
        match event:
            case Market.Scheduled():
                plan = event.plan
                cur.execute(
                    "INSERT INTO rm_markets (market_id, seq, title, format, region, venue, "
                    "status, starts_at, ends_at, starts_on, ends_on, participants, closed_at, "
                    "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        market_id,
                        position,
                        plan.title,
                        plan.format.value,
                        plan.region,
                        plan.venue,
                        "planned",
                        plan.starts_at.isoformat(),
                        plan.ends_at.isoformat(),
                        plan.starts_at.date().isoformat(),
                        plan.ends_at.date().isoformat(),
                        0,
                        None,
                        version,
                    ),
                )
                return
            case Market.ParticipantAdmitted():
                cur.execute(
                    "UPDATE rm_markets SET participants = participants + 1 WHERE market_id=%s",
                    (market_id,),
                )
            case Market.Opened():
                self._status(cur, market_id, "open")
            case Market.Closed():
                self._status(cur, market_id, "closed")
                cur.execute(
                    "UPDATE rm_markets SET closed_at=%s WHERE market_id=%s",
                    (event.timestamp.isoformat(), market_id),
                )
            case Market.Cancelled():
                self._status(cur, market_id, "cancelled")
        cur.execute("UPDATE rm_markets SET version=%s WHERE market_id=%s", (version, market_id))

    @staticmethod
    def _status(cur: Cursor, market_id: str, status: str) -> None:
        cur.execute("UPDATE rm_markets SET status=%s WHERE market_id=%s", (status, market_id))

    def _posting(self, cur: Cursor, position: int, event: Any) -> None:
        posting_id = str(event.originator_id)
        version = event.originator_version
        match event:
            case Posting.Posted():
                cur.execute(
                    "INSERT INTO rm_market_postings (posting_id, market_id, seq, side, party_id, "
                    "kind, quantity, unit, description, corner, status, deal_id, agreement_id, "
                    "version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        posting_id,
                        event.market_id,
                        position,
                        event.side.value,
                        event.party_id,
                        event.kind.value,
                        str(event.quantity),
                        event.unit,
                        event.description,
                        event.corner,
                        "open",
                        None,
                        None,
                        version,
                    ),
                )
            case Posting.Matched():
                cur.execute(
                    "UPDATE rm_market_postings SET status=%s, deal_id=%s, agreement_id=%s, "
                    "version=%s WHERE posting_id=%s",
                    ("matched", event.deal_id, event.agreement_id, version, posting_id),
                )
            case Posting.Withdrawn():
                cur.execute(
                    "UPDATE rm_market_postings SET status=%s, version=%s WHERE posting_id=%s",
                    ("withdrawn", version, posting_id),
                )

    def __init__(self) -> None:
        # Agreements proposed elsewhere than at a market: their later events change no deal
        # (an agreement's origin is fixed by its first event), so they cost no statement.
        # A fact about the log, true whoever applies the later events and after a reset.
        # By the agreement's id as the event holds it (its text costs more than a lookup).
        self._not_deals: OrderedDict[UUID, None] = OrderedDict()

    def _deal(self, cur: Cursor, position: int, event: Any) -> None:
        originator: UUID = event.originator_id
        if originator in self._not_deals:
            return
        if type(event) is Agreement.Proposed:
            self._not_deals[originator] = None
            if len(self._not_deals) > NOT_DEALS_KEPT:
                self._not_deals.popitem(last=False)
            return
        agreement_id = str(originator)
        if isinstance(event, Agreement.ProposedAtMarket):
            origin = event.origin
            cur.execute(
                "INSERT INTO rm_market_deals (agreement_id, market_id, seq, deal_id, broker, "
                "offer_id, need_id, status, concluded, notarised, fulfilments) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    agreement_id,
                    origin.market_id,
                    position,
                    origin.deal_id,
                    origin.broker,
                    origin.offer_id,
                    origin.need_id,
                    "proposed",
                    False,
                    False,
                    0,
                ),
            )
            return
        status = _AGREEMENT_STATUS.get(type(event))
        if status == "in_force":
            cur.execute(
                "UPDATE rm_market_deals SET status=%s, concluded=%s WHERE agreement_id=%s",
                (status, True, agreement_id),
            )
        elif status is not None:
            cur.execute(
                "UPDATE rm_market_deals SET status=%s WHERE agreement_id=%s",
                (status, agreement_id),
            )
        elif isinstance(event, Agreement.Notarised):
            cur.execute(
                "UPDATE rm_market_deals SET notarised=%s WHERE agreement_id=%s",
                (True, agreement_id),
            )
        elif isinstance(event, Agreement.FulfilmentRecorded):
            cur.execute(
                "UPDATE rm_market_deals SET fulfilments = fulfilments + 1 WHERE agreement_id=%s",
                (agreement_id,),
            )
