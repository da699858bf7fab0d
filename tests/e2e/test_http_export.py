"""GET /v1/events/export: a researcher with a token downloads the export and, on a machine of
their own, `tris replay` rebuilds the same read models from it."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.support.http import Api, Trio, bearer, content
from tris.application.opendata.export import write_export
from tris.application.opendata.stream import EventStream
from tris.bootstrap import Services
from tris.interfaces.cli.main import create_cli

CONTACT = ("Henrike Geheimhaltung", "henrike.geheim@privacy-probe.example", "+49 30 7770001")


def some_history(api: Api, trio: Trio) -> None:
    """A party with a contact person, and an agreement signed into force."""
    name, email, phone = CONTACT
    api.register_party(
        "Familienzentrum Brunnenviertel",
        "civil_society",
        contacts=[{"name": name, "email": email, "phone": phone}],
    )
    proposed = api.propose(trio.state, content(trio.business, trio.civil, trio.state))
    assert proposed.status_code == 201, proposed.text
    api.conclude(str(proposed.json()["id"]), 1, trio.state, trio.business, trio.civil)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.split("\n") if line]


def without_time(text: str) -> list[dict[str, Any]]:
    """The lines of an export, its header without the moment it was made."""
    header, *events = lines(text)
    return [{k: v for k, v in header.items() if k != "exported_at"}, *events]


def test_a_researcher_downloads_an_export_that_tris_replay_rebuilds_to_the_same_digest(
    api: Api, trio: Trio, services: Services, tmp_path: Path
) -> None:
    some_history(api, trio)
    researcher = api.issue_token("researcher")
    answer = api.client.get("/v1/events/export", headers=bearer(researcher))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"].startswith("attachment")
    for secret in (*CONTACT, "Geheimhaltung", "privacy-probe", "Erika Muster", "erika@example"):
        assert secret not in answer.text, secret

    made_by_cli = io.StringIO()
    write_export(EventStream(services.store), made_by_cli)
    assert without_time(answer.text) == without_time(made_by_cli.getvalue())

    # On the researcher's own machine: the downloaded file and an empty store, no server.
    downloaded = tmp_path / "downloaded.ndjson"
    downloaded.write_bytes(answer.content)
    own = f"sqlite:///{tmp_path}/own-copy.db"
    replayed = CliRunner().invoke(
        create_cli(),
        ["replay", str(downloaded), "--database", own],
        env={"TRIS_DATABASE_URL": own},
        catch_exceptions=False,
    )
    assert replayed.exit_code == 0, replayed.output
    assert "every hash verified" in replayed.stderr
    services.projections.catch_up()
    assert replayed.stdout.strip() == services.projections.digest()


def test_an_export_after_a_position_holds_only_the_later_events(api: Api, trio: Trio) -> None:
    some_history(api, trio)
    auditor = bearer(api.issue_token("auditor"))
    header, *events = lines(
        api.client.get("/v1/events/export", params={"after": 5}, headers=auditor).text
    )
    assert header["format"] == "tris-export/1" and header["after"] == 5
    assert [e["position"] for e in events] == list(range(6, header["source_head"] + 1))
    assert all(set(e["stored"]) == {"topic", "state"} for e in events)


def test_only_stream_readers_download_an_export(api: Api, trio: Trio) -> None:
    assert api.client.get("/v1/events/export", headers=api.admin).status_code == 200
    refused = api.client.get("/v1/events/export", headers=trio.state.headers())
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert api.client.get("/v1/events/export").status_code == 401
    bad = api.client.get("/v1/events/export", params={"after": -1}, headers=api.admin)
    assert bad.status_code == 422
