"""API tokens: issued once, kept only as hashes, revocable, bound to a party for partners."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.scenario import World
from tests.support.trio import ServicesFactory
from tris.application import tokens as tokens_module
from tris.application.access import Principal, Role
from tris.application.errors import TokenNotFoundError
from tris.application.tokens import Tokens
from tris.bootstrap import Services
from tris.domain.errors import InvalidInputError
from tris.domain.values import Sector


def token_rows(services: Services) -> list[tuple[object, ...]]:
    """Every row of the token table, every column."""
    with services.store.database.read() as cur:
        cur.execute("SELECT * FROM tris_tokens")
        return [tuple(row) for row in cur.fetchall()]


def test_an_issued_token_authenticates_as_its_role_and_party(services: Services) -> None:
    tokens = services.tokens
    party_id = str(uuid.uuid4())

    for role, party in [
        (Role.ADMIN, None),
        (Role.AUDITOR, None),
        (Role.RESEARCHER, None),
        (Role.PARTNER, party_id),
    ]:
        issued = tokens.issue(role, party, label=f"{role.value} token")
        assert issued.token.startswith("tris_") and len(issued.token) > 40
        assert tokens.authenticate(issued.token) == Principal(issued.token_id, role, party)


def test_two_tokens_never_share_a_secret_or_an_id(services: Services) -> None:
    issued = [services.tokens.issue(Role.AUDITOR) for _ in range(20)]

    assert len({i.token for i in issued}) == 20
    assert len({i.token_id for i in issued}) == 20


def test_a_revoked_token_no_longer_authenticates(services: Services) -> None:
    tokens = services.tokens
    kept, revoked = tokens.issue(Role.AUDITOR), tokens.issue(Role.AUDITOR)

    tokens.revoke(revoked.token_id)

    assert tokens.authenticate(revoked.token) is None
    assert tokens.authenticate(kept.token) == Principal(kept.token_id, Role.AUDITOR)
    listed = {t["token_id"]: t for t in tokens.list()}
    assert listed[revoked.token_id]["revoked"] is True
    assert listed[kept.token_id]["revoked"] is False
    tokens.revoke(revoked.token_id)  # again: nothing changes, nothing is refused
    assert tokens.authenticate(revoked.token) is None
    with pytest.raises(TokenNotFoundError):
        tokens.revoke("no-such-token")


def test_secrets_are_never_stored(world: World) -> None:
    services = world.services
    issued = [
        services.tokens.issue(Role.RESEARCHER),
        services.tokens.issue(Role.PARTNER, world.add("Amt", Sector.STATE).party_id),
    ]

    rows = token_rows(services)
    everything = " ".join(str(value) for row in rows for value in row)
    for token in issued:
        assert token.token not in everything
        assert token.token.removeprefix("tris_") not in everything
        assert token.token_id in everything
    for listed in services.tokens.list():
        assert not {"token", "token_hash", "secret"} & listed.keys()


def test_partner_tokens_and_only_they_name_a_party(services: Services) -> None:
    tokens = services.tokens
    before = token_rows(services)

    with pytest.raises(InvalidInputError):
        tokens.issue(Role.PARTNER)
    for role in (Role.ADMIN, Role.AUDITOR, Role.RESEARCHER):
        with pytest.raises(InvalidInputError):
            tokens.issue(role, str(uuid.uuid4()))
    assert token_rows(services) == before


@pytest.mark.parametrize(
    "secret", ["", "tris_", "tris_unknown", "Bearer tris_x", "x" * 500, "tris_" + "a" * 300]
)
def test_unknown_secrets_do_not_authenticate(services: Services, secret: str) -> None:
    services.tokens.issue(Role.ADMIN)

    assert services.tokens.authenticate(secret) is None


def test_tokens_survive_a_restart(open_services: ServicesFactory, services: Services) -> None:
    issued = services.tokens.issue(Role.AUDITOR)
    services.close()

    restarted = open_services()
    assert restarted.tokens.authenticate(issued.token) == Principal(issued.token_id, Role.AUDITOR)


def test_a_token_used_just_now_is_revoked_at_once_here_and_within_its_trust_time_elsewhere(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens_module, "TRUSTED_SECONDS", 0.2)
    here, elsewhere = services.tokens, Tokens(services.store.database)  # two processes
    revoked_here, revoked_elsewhere = here.issue(Role.AUDITOR), here.issue(Role.AUDITOR)
    for issued in (revoked_here, revoked_elsewhere):
        assert here.authenticate(issued.token) is not None  # now trusted by `here`
        assert here.trusted(issued.token) is not None

    here.revoke(revoked_here.token_id)
    elsewhere.revoke(revoked_elsewhere.token_id)

    assert here.authenticate(revoked_here.token) is None
    assert here.trusted(revoked_here.token) is None
    time.sleep(0.3)
    assert here.trusted(revoked_elsewhere.token) is None
    assert here.authenticate(revoked_elsewhere.token) is None


def test_an_unknown_or_revoked_token_is_never_trusted_without_a_lookup(services: Services) -> None:
    issued = services.tokens.issue(Role.RESEARCHER)

    assert services.tokens.trusted(issued.token) is None  # not looked up yet
    assert services.tokens.trusted("tris_" + "x" * 43) is None
    assert services.tokens.authenticate("tris_" + "x" * 43) is None
    assert services.tokens.trusted("tris_" + "x" * 43) is None


def test_a_token_looked_up_once_is_read_again_only_after_a_revocation_anywhere(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens_module, "TRUSTED_SECONDS", 0.2)
    here, elsewhere = services.tokens, Tokens(services.store.database)  # two processes
    kept, revoked = here.issue(Role.PARTNER, str(uuid.uuid4())), here.issue(Role.AUDITOR)
    reads: list[str] = []
    active = here.rows.active

    def counted(token_hash: str) -> tuple[str, str, str | None, int] | None:
        reads.append(token_hash)
        return active(token_hash)

    monkeypatch.setattr(here.rows, "active", counted)
    principal = here.authenticate(kept.token)
    assert principal is not None
    assert len(reads) == 1

    time.sleep(0.3)  # past the second: the process asks whether anything was revoked
    assert here.trusted(kept.token) is None
    assert here.authenticate(kept.token) == principal
    assert len(reads) == 1  # nothing was: the token is not read again
    assert here.trusted(kept.token) == principal

    elsewhere.revoke(revoked.token_id)
    time.sleep(0.3)
    assert here.authenticate(kept.token) == principal
    assert len(reads) == 2  # a revocation anywhere: each token is read once more
    assert here.authenticate(revoked.token) is None


def test_only_a_revocation_that_revokes_is_counted(services: Services) -> None:
    rows = services.tokens.rows
    issued = services.tokens.issue(Role.RESEARCHER)
    before = rows.revocations()

    services.tokens.revoke(issued.token_id)
    assert rows.revocations() == before + 1

    services.tokens.revoke(issued.token_id)  # a retried revocation changes nothing
    with pytest.raises(TokenNotFoundError):
        services.tokens.revoke("0" * 16)
    assert rows.revocations() == before + 1
