"""OCDS documents of agreements: a release package per agreement, a record per ocid (merged
by the Open Contracting Partnership's `ocdsmerge`), and every published agreement at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from ocdsmerge import Merger

from tris.application.access import PUBLIC, Principal
from tris.application.agreements import Agreements
from tris.application.markets import Markets
from tris.application.opendata.ocds.mapping import (
    Directory,
    PartyFacts,
    facts_of,
    ocid_of,
    releases,
)
from tris.application.parties import Parties
from tris.application.readmodels.queries.agreements import AgreementQueries
from tris.application.store import EventStore
from tris.application.views import moment_text
from tris.domain.errors import AgreementNotFoundError, DomainError

SCHEMAS = Path(__file__).parent
VERSION = "1.1"


@cache
def release_schema() -> dict[str, Any]:
    """The official OCDS 1.1.5 release schema kept beside this module."""
    with (SCHEMAS / "release-schema.json").open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def merger() -> Merger:
    """ocdsmerge's merger with the rules of the local release schema (nothing fetched)."""
    return Merger(schema=release_schema())


class OpenContracting:
    """Agreements in the Open Contracting Data Standard."""

    def __init__(
        self,
        store: EventStore,
        agreements: Agreements,
        parties: Parties,
        markets: Markets,
        queries: AgreementQueries,
        ocid_prefix: str,
        publisher: str,
    ) -> None:
        self.store = store
        self.agreements = agreements
        self.parties = parties
        self.markets = markets
        self.queries = queries
        self.ocid_prefix = ocid_prefix
        self.publisher = publisher

    # ---------------------------------------------------------------- lookups

    def _directory(self) -> Directory:
        known: dict[str, PartyFacts] = {}
        titles: dict[str, str | None] = {}

        def party(party_id: str) -> PartyFacts:
            if party_id not in known:
                try:
                    known[party_id] = facts_of(self.parties.get(PUBLIC, party_id))
                except DomainError:
                    known[party_id] = PartyFacts(name=party_id)
            return known[party_id]

        def market_title(market_id: str) -> str | None:
            if market_id not in titles:
                try:
                    titles[market_id] = str(self.markets.get(market_id)["title"])
                except DomainError:
                    titles[market_id] = None
            return titles[market_id]

        return Directory(self.ocid_prefix, party, market_title)

    def releases(self, viewer: Principal, agreement_id: str) -> list[dict[str, Any]]:
        """Every release of an agreement this viewer may read (AgreementNotFoundError if not)."""
        agreement = self.agreements.visible(viewer, agreement_id)
        events = self.store.events(agreement.id)
        return releases(agreement.agreement_id, events, self._directory())

    # --------------------------------------------------------------- packages

    def _package_head(self, uri: str) -> dict[str, Any]:
        return {
            "uri": uri,
            "version": VERSION,
            "publishedDate": moment_text(datetime.now(UTC)),
            "publisher": {"name": self.publisher},
        }

    def release_package(self, viewer: Principal, agreement_id: str, uri: str) -> dict[str, Any]:
        """A release package of one agreement's releases."""
        return {**self._package_head(uri), "releases": self.releases(viewer, agreement_id)}

    def agreement_of(self, ocid: str) -> str:
        """The agreement id an ocid of this TRIS names (AgreementNotFoundError if none)."""
        prefix = f"{self.ocid_prefix}-"
        missing = AgreementNotFoundError(f"no published agreement has the ocid {ocid}")
        if not ocid.startswith(prefix):
            raise missing
        try:
            return str(UUID(ocid[len(prefix) :]))
        except ValueError:
            raise missing from None

    def record_package(self, viewer: Principal, ocid: str, uri: str) -> dict[str, Any]:
        """A record package: the agreement's releases and their compiled release."""
        agreement_id = self.agreement_of(ocid)
        found = self.releases(viewer, agreement_id)
        record = {
            "ocid": ocid_of(self.ocid_prefix, agreement_id),
            "releases": found,
            "compiledRelease": merger().create_compiled_release(found),
        }
        return {**self._package_head(uri), "records": [record]}

    def write_release_package(
        self, handle: TextIO, uri: str, progress: Callable[[int], None] | None = None
    ) -> int:
        """Write one release package of every release of every published agreement to
        `handle`, an agreement at a time (memory holds one agreement's releases); report each
        agreement to `progress`; return how many releases were written."""
        head = json.dumps(self._package_head(uri), ensure_ascii=False)
        handle.write(head[:-1] + ', "releases": [')
        written = 0
        directory = self._directory()
        for agreement_id in self.published():
            try:
                agreement = self.agreements.visible(PUBLIC, agreement_id)
            except AgreementNotFoundError:
                agreement = None  # unpublished since it was listed
            if agreement is not None:
                found = releases(agreement_id, self.store.events(agreement.id), directory)
                for release in found:
                    handle.write("\n" if written == 0 else ",\n")
                    handle.write(json.dumps(release, ensure_ascii=False))
                    written += 1
            if progress is not None:
                progress(1)
        handle.write("\n]}\n")
        return written

    def published_count(self) -> int:
        """How many agreements are published now."""
        return sum(1 for _ in self.published())

    def published(self) -> Iterator[str]:
        """The ids of every published agreement, oldest first."""
        return self.queries.published_ids()
