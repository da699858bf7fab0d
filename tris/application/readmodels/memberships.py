"""The memberships read model: each membership as it stands, and every state it had with
the moment TRIS recorded it (bitemporal: `valid_from`/`valid_to` are effective time, the
`recorded_from`/`recorded_to` of the history are recorded time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tris.application.readmodels.base import Projection
from tris.domain.networks.membership import Membership
from tris.storage.cursors import Cursor

# Statuses in which a membership holds for its period (an ended one held until its end).
IN_GRAPH = ("active", "ended")


def recorded_moment(moment: datetime) -> str:
    """A moment as the history stores it: UTC, with microseconds, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class MembershipsProjection(Projection):
    """Memberships now, and their history by recorded time."""

    name = "memberships"
    # 2: `rm_membership_ends` (why an ended membership ended, for the listing).
    schema_version = 2
    tables = (
        """CREATE TABLE IF NOT EXISTS rm_memberships (
            membership_id TEXT PRIMARY KEY,
            seq BIGINT NOT NULL,
            network_id TEXT NOT NULL,
            member_id TEXT NOT NULL,
            role TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_to TEXT,
            basis TEXT NOT NULL,
            status TEXT NOT NULL,
            requested_by TEXT NOT NULL,
            version BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS rm_membership_history (
            membership_id TEXT NOT NULL,
            version BIGINT NOT NULL,
            network_id TEXT NOT NULL,
            member_id TEXT NOT NULL,
            role TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_to TEXT,
            status TEXT NOT NULL,
            recorded_from TEXT NOT NULL,
            recorded_to TEXT,
            PRIMARY KEY (membership_id, version))""",
        """CREATE TABLE IF NOT EXISTS rm_membership_ends (
            membership_id TEXT PRIMARY KEY,
            end_reason TEXT NOT NULL)""",
    )
    indexes = (
        "CREATE INDEX IF NOT EXISTS rm_memberships_network ON rm_memberships (network_id, seq)",
        "CREATE INDEX IF NOT EXISTS rm_memberships_member ON rm_memberships (member_id, seq)",
        "CREATE INDEX IF NOT EXISTS rm_membership_history_network "
        "ON rm_membership_history (network_id, recorded_from)",
        "CREATE INDEX IF NOT EXISTS rm_membership_history_member "
        "ON rm_membership_history (member_id, recorded_from)",
    )
    digest_queries = (
        "SELECT membership_id, network_id, member_id, role, valid_from, valid_to, basis, "
        "status, requested_by, version FROM rm_memberships ORDER BY seq, membership_id",
        "SELECT membership_id, version, network_id, member_id, role, valid_from, valid_to, "
        "status, recorded_from, recorded_to FROM rm_membership_history "
        "ORDER BY membership_id, version",
        "SELECT membership_id, end_reason FROM rm_membership_ends ORDER BY membership_id",
    )

    def apply(self, cur: Cursor, position: int, event: Any) -> None:
        """Apply a Membership event; other events are ignored."""
        if not type(event).__qualname__.startswith("Membership."):
            return
        membership_id = str(event.originator_id)
        version = event.originator_version
        match event:
            case Membership.Requested() | Membership.Recorded():
                terms = event.terms
                status = "active" if isinstance(event, Membership.Recorded) else "pending"
                cur.execute(
                    "INSERT INTO rm_memberships (membership_id, seq, network_id, member_id, "
                    "role, valid_from, valid_to, basis, status, requested_by, version) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        membership_id,
                        position,
                        terms.network_id,
                        terms.member_id,
                        terms.role,
                        terms.valid_from.isoformat(),
                        _day(terms.valid_to),
                        terms.basis,
                        status,
                        event.actor.party_id,
                        version,
                    ),
                )
            case Membership.Accepted():
                self._set(cur, membership_id, version, status="active")
            case Membership.Rejected():
                self._set(cur, membership_id, version, status="rejected")
            case Membership.Ended():
                self._set(
                    cur, membership_id, version, status="ended", valid_to=_day(event.valid_to)
                )
                cur.execute(
                    "INSERT INTO rm_membership_ends (membership_id, end_reason) VALUES (%s, %s)",
                    (membership_id, event.reason),
                )
            case Membership.Corrected():
                self._set(
                    cur,
                    membership_id,
                    version,
                    valid_from=event.valid_from.isoformat(),
                    valid_to=_day(event.valid_to),
                )
            case _:
                return
        self._record(cur, membership_id, version, recorded_moment(event.timestamp))

    @staticmethod
    def _set(cur: Cursor, membership_id: str, version: int, **columns: str | None) -> None:
        names = sorted(columns)
        assignments = ", ".join(f"{name}=%s" for name in names)
        cur.execute(
            f"UPDATE rm_memberships SET {assignments}, version=%s "  # noqa: S608 - our names
            "WHERE membership_id=%s",
            (*(columns[n] for n in names), version, membership_id),
        )

    @staticmethod
    def _record(cur: Cursor, membership_id: str, version: int, moment: str) -> None:
        """Close the state known until now and open the new one at `moment`."""
        cur.execute(
            "UPDATE rm_membership_history SET recorded_to=%s "
            "WHERE membership_id=%s AND recorded_to IS NULL",
            (moment, membership_id),
        )
        cur.execute(
            "INSERT INTO rm_membership_history (membership_id, version, network_id, member_id, "
            "role, valid_from, valid_to, status, recorded_from, recorded_to) "
            "SELECT membership_id, %s, network_id, member_id, role, valid_from, valid_to, "
            "status, %s, NULL FROM rm_memberships WHERE membership_id=%s",
            (version, moment, membership_id),
        )


def _day(day: Any) -> str | None:
    return None if day is None else str(day.isoformat())
