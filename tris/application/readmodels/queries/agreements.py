"""Agreement search and listing: filters, visibility, keyset pages, the text search."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from tris.application.access import Principal, Role
from tris.application.readmodels.agreements.search import SEARCH_INDEX
from tris.application.readmodels.queries.networks import members_statement
from tris.application.readmodels.queries.paging import (
    ReadModelQueries,
    check_limit,
)
from tris.domain.errors import InvalidInputError
from tris.domain.values import Sector, SectorMix
from tris.storage import tracking
from tris.storage.cursors import Cursor

STATUSES = ("proposed", "in_force", "completed", "terminated", "withdrawn")
# An agreement with a party that is a member of the network (`net`, see members_statement).
NETWORK_CONDITION = (
    "EXISTS (SELECT 1 FROM rm_agreement_parties np JOIN net ON net.party = np.party_id "
    "WHERE np.agreement_id = a.agreement_id AND np.is_current = %s)"
)

# An agreement whose content in force says `publication: public`.
PUBLISHED_CONDITION = (
    "EXISTS (SELECT 1 FROM rm_published pub WHERE pub.agreement_id = a.agreement_id)"
)
# The published drive a public list, newest first, when nothing narrower does.
PUBLISHED_SOURCE = "rm_published pub JOIN rm_agreements a ON a.agreement_id = pub.agreement_id"


@dataclass(frozen=True)
class AgreementFilter:
    """The filters of `GET /v1/agreements`; None means no filter."""

    party: str | None = None
    sector: str | None = None
    status: str | None = None
    sector_mix: str | None = None
    region: str | None = None
    q: str | None = None
    network: str | None = None
    network_as_of: date | None = None

    def validate(self) -> None:
        """Raise InvalidInputError for values no agreement can have."""
        if self.status is not None and self.status not in STATUSES:
            raise InvalidInputError(f"status must be one of {', '.join(STATUSES)}")
        if self.sector is not None and self.sector not in {s.value for s in Sector}:
            raise InvalidInputError("sector must be state, business or civil_society")
        if self.sector_mix is not None and self.sector_mix not in {m.value for m in SectorMix}:
            raise InvalidInputError("sector_mix must be trisectoral, bisectoral or intrasectoral")
        if self.q is not None and len(self.q) > 200:
            raise InvalidInputError("q has at most 200 characters")
        if self.network_as_of is not None and self.network is None:
            raise InvalidInputError("as_of belongs to the network filter: name a network too")


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _trigrams(text: str) -> str | None:
    """An FTS5 query for the agreements whose text holds every trigram of `text`, or None
    when no trigram index can serve it: fewer than 3 characters, or a NUL (the query parser
    would stop at it). Every agreement holding `text` holds its trigrams, so the matches
    are a superset of the LIKE's; LIKE keeps exactly its own."""
    folded = text.casefold()
    if len(folded) < 3 or "\x00" in folded:
        return None
    # Inside an FTS5 string every character is literal; a double quote is doubled.
    terms = {folded[i : i + 3].replace('"', '""') for i in range(len(folded) - 2)}
    return " AND ".join(f'"{term}"' for term in sorted(terms))


class AgreementQueries(ReadModelQueries):
    """Pages of agreements as a viewer may see them."""

    def agreements(
        self,
        viewer: Principal,
        filters: AgreementFilter,
        *,
        limit: int = 50,
        cursor: str | None = None,
        tracked: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        """A page of agreements, newest first, with an opaque cursor for the next page.

        `tracked`, when given, is filled with each projection's tracked position as the
        page was read: the page holds every event up to them and none after (on PostgreSQL
        from the page's own statement, on SQLite read first in the same transaction).
        """
        sql, params = self.agreements_statement(viewer, filters, limit=limit, cursor=cursor)
        postgres = self.database.backend == "postgres"
        with self.database.read() as cur:
            if tracked is not None and (not postgres or filters.region is not None):
                # Read first: the answer holds at least what they say (a region unknown
                # answers without the page's statement).
                tracked.update(tracking.positions(cur))
            if filters.region is not None and not self._region_known(cur, filters.region):
                # No party there: no agreement either, and no scan of them all to tell.
                return {"items": [], "next_cursor": None}
            cur.execute(with_parties(sql) if postgres else sql, params)
            rows = cur.fetchall()
            if postgres:
                if tracked is not None:
                    tracked.update(tracked_of_row(rows[0][TRACKED_COLUMN]))
                rows = [r for r in rows if r[0] is not None]  # an empty page: one empty row
            page, more = rows[:limit], len(rows) > limit
            if postgres:
                parties = {r[0]: parties_of_row(r[PARTIES_COLUMN]) for r in page}
            else:
                parties = self._parties_of(cur, [r[0] for r in page])
        items = [
            {
                "id": r[0],
                "title": r[2],
                "status": r[3],
                "sector_mix": r[4],
                "proposer": r[5],
                "version": int(r[6]),
                "revision": int(r[7]),
                "in_force_revision": None if r[8] is None else int(r[8]),
                "created_at": r[9],
                "updated_at": r[10],
                "parties": parties.get(r[0], []),
            }
            for r in page
        ]
        next_cursor = self.cursors.encode(int(page[-1][1])) if more and page else None
        return {"items": items, "next_cursor": next_cursor}

    def agreements_statement(
        self,
        viewer: Principal,
        filters: AgreementFilter,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[str, list[Any]]:
        """The statement and parameters that select a page of agreements (one row more,
        to tell whether another page follows)."""
        filters.validate()
        check_limit(limit)
        where: list[str] = []
        params: list[Any] = []
        source = "rm_agreements a"
        order = "a.seq"
        if filters.party is not None:
            # Drive the query from the party index: fast at any number of agreements. Its
            # rows carry the agreement's seq, so ordering by theirs walks the index newest
            # first and stops at the page instead of sorting all of the party's agreements.
            source = (
                "rm_agreement_parties fp JOIN rm_agreements a ON a.agreement_id = fp.agreement_id"
            )
            where += ["fp.party_id = %s", "fp.is_current = %s"]
            params += [filters.party, True]
            order = "fp.seq"
        # A partner sees its party's agreements; its own party's row (fp) proves that already.
        if viewer.role is Role.PARTNER and filters.party != viewer.party_id:
            where.append(
                "EXISTS (SELECT 1 FROM rm_agreement_parties vp "
                "WHERE vp.agreement_id = a.agreement_id AND vp.party_id = %s)"
            )
            params.append(viewer.party_id)
        if filters.status is not None:
            where.append("a.status = %s")
            params.append(filters.status)
        if filters.sector_mix is not None:
            where.append("a.sector_mix = %s")
            params.append(filters.sector_mix)
        if filters.sector is not None:
            where.append(
                "EXISTS (SELECT 1 FROM rm_agreement_parties sp WHERE sp.agreement_id = "
                "a.agreement_id AND sp.sector = %s AND sp.is_current = %s)"
            )
            params += [filters.sector, True]
        if filters.region is not None:
            where.append(
                "EXISTS (SELECT 1 FROM rm_agreement_parties rp JOIN rm_parties r "
                "ON r.party_id = rp.party_id WHERE rp.agreement_id = a.agreement_id "
                "AND rp.is_current = %s AND r.region = %s)"
            )
            params += [True, filters.region]
        if filters.q:
            source, order = self._search(filters, source, order, where, params)
        prefix, prefix_params = "", list[Any]()
        if filters.network is not None:
            net, prefix_params = members_statement(
                filters.network, filters.network_as_of or self.today()
            )
            prefix = f"WITH RECURSIVE {net} "
            where.append(NETWORK_CONDITION)
            params.append(True)
        if viewer.published_only and source == "rm_agreements a":
            source, order = PUBLISHED_SOURCE, "pub.seq"
        elif viewer.published_only:
            where.append(PUBLISHED_CONDITION)
        if cursor is not None:
            (after_seq,) = self.cursors.decode(cursor, int)
            where.append(f"{order} < %s")
            params.append(int(after_seq))
        sql = prefix + (
            "SELECT a.agreement_id, a.seq, a.title, a.status, a.sector_mix, a.proposer, "  # noqa: S608
            "a.version, a.revision, a.in_force_revision, a.created_at, a.updated_at "
            f"FROM {source}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {order} DESC LIMIT %s"
        )
        params.append(limit + 1)
        return sql, [*prefix_params, *params]

    @staticmethod
    def _region_known(cur: Cursor, region: str) -> bool:
        cur.execute("SELECT 1 FROM rm_parties WHERE region = %s LIMIT 1", (region,))
        return cur.fetchone() is not None

    def published_ids(self, batch: int = 500) -> Iterator[str]:
        """Every published agreement's id, oldest first, read a batch at a time."""
        after = -1
        while True:
            with self.database.read() as cur:
                cur.execute(
                    "SELECT agreement_id, seq FROM rm_published WHERE seq > %s "
                    "ORDER BY seq LIMIT %s",
                    (after, batch),
                )
                rows = cur.fetchall()
            yield from (str(r[0]) for r in rows)
            if len(rows) < batch:
                return
            after = int(rows[-1][1])

    def _search(
        self, filters: AgreementFilter, source: str, order: str, where: list[str], params: list[Any]
    ) -> tuple[str, str]:
        """Add the text search's conditions; the source and order that serve it best."""
        assert filters.q
        trigrams = _trigrams(filters.q)
        if trigrams is not None and filters.party is None and self.database.backend == "sqlite":
            # The trigram table drives: it yields its matches newest first (its rowid is
            # the agreement's seq) and stops at the page. A party's agreements are few
            # enough to scan; PostgreSQL's GIN index serves the LIKE itself (ADR 13).
            source = f"{SEARCH_INDEX} JOIN rm_agreements a ON a.seq = {SEARCH_INDEX}.rowid"
            order = f"{SEARCH_INDEX}.rowid"
            where.append(f"{SEARCH_INDEX} MATCH %s")
            params.append(trigrams)
        where.append("a.search_text LIKE %s ESCAPE '\\'")
        params.append(_like(filters.q))
        return source, order

    def _parties_of(self, cur: Cursor, agreement_ids: list[str]) -> dict[str, list[Any]]:
        return current_parties(self.database.backend, cur, agreement_ids)


# The columns `with_parties` adds after the page's eleven.
PARTIES_COLUMN = 11
TRACKED_COLUMN = 12


def with_parties(page_sql: str) -> str:
    """PostgreSQL: a page's statement that also brings each agreement's governing parties
    (a twelfth column, `party_id sector` texts) and every projection's tracked position
    (a thirteenth, `projection position` texts, the same on each row), so that a page is
    one round trip instead of three and its position is the one its rows were read at (one
    statement, one snapshot). Its rows stay newest first: the page's order key is the
    agreement's `seq` in every source a page is driven from (its cursor relies on that
    too). An empty page is one row of nulls beside the positions."""
    return (
        "SELECT p.*, ARRAY(SELECT pp.party_id || ' ' || pp.sector "  # noqa: S608
        "FROM rm_agreement_parties pp WHERE pp.agreement_id = p.agreement_id "
        "AND pp.is_current), t.tracked "
        "FROM (SELECT ARRAY(SELECT projection || ' ' || position FROM tris_tracking) "
        f"AS tracked) AS t LEFT JOIN ({page_sql}) AS p ON TRUE ORDER BY p.seq DESC"
    )


def tracked_of_row(pairs: list[str]) -> dict[str, int]:
    """The tracked positions `with_parties` brought, by projection."""
    split = (pair.rpartition(" ") for pair in pairs)
    return {projection: int(position) for projection, _, position in split}


def parties_of_row(pairs: list[str]) -> list[dict[str, str]]:
    """The parties `with_parties` brought, in party id order, as the answers list them (a
    sector holds no space: the last one ends the party id)."""
    split = sorted(pair.rpartition(" ")[::2] for pair in pairs)
    return [{"party_id": party_id, "sector": sector} for party_id, sector in split]


def current_parties(backend: str, cur: Cursor, agreement_ids: list[str]) -> dict[str, list[Any]]:
    """The governing parties (`party_id`, `sector`) of each agreement, by party id, in one
    statement."""
    if not agreement_ids:
        return {}
    if backend == "postgres":
        # One statement text for every page (prepared once), driven by the primary key.
        cur.execute(
            "SELECT agreement_id, party_id, sector FROM rm_agreement_parties "
            "WHERE agreement_id = ANY(%s) AND is_current = %s",
            [agreement_ids, True],
        )
    else:
        marks = ", ".join(["%s"] * len(agreement_ids))
        cur.execute(
            "SELECT agreement_id, party_id, sector FROM rm_agreement_parties "  # noqa: S608
            f"WHERE agreement_id IN ({marks}) AND is_current = %s",
            [*agreement_ids, True],
        )
    result: dict[str, list[Any]] = defaultdict(list)
    for agreement_id, party_id, sector in sorted(cur.fetchall(), key=lambda r: r[1]):
        result[agreement_id].append({"party_id": party_id, "sector": sector})
    return result
