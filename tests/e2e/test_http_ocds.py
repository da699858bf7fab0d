"""Open Contracting over HTTP and in the CLI, on each backend: every agreement of the demo as
OCDS that validates against the official 1.1.5 schemas offline; records merged by ocdsmerge;
nothing personal, nothing unpublished, no money forced into `value`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ocdsmerge import Merger

from tests.support.http import bearer
from tests.support.integrity import integrity_settings
from tests.support.ocds import errors, record_package_errors, release_package_errors
from tests.support.server import server_key_file, tris_env
from tris.application.access import Role
from tris.application.opendata.ocds.service import release_schema
from tris.bootstrap import Services, build
from tris.demo import load_demo
from tris.demo.results import DemoData
from tris.interfaces.http.app import create_app

PERSONAL = ("Murat Demir", "@", "contacts", "email", "phone")


@pytest.fixture
def demo_services(database_url: str, tmp_path: Path) -> Iterator[Services]:
    # The key file the CLI gets too (tris_env), so both unwrap the same sealed data.
    key = str(server_key_file(tmp_path))
    built = build(integrity_settings(database_url, tmp_path, server_key_file=key))
    yield built
    built.close()


@pytest.fixture
def demo(demo_services: Services) -> DemoData:
    return load_demo(demo_services)


@pytest.fixture
def demo_client(demo_services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(demo_services)) as client:
        yield client


def keys(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from keys(value)
    elif isinstance(document, list):
        for value in document:
            yield from keys(value)


def test_every_demo_agreement_is_valid_ocds_for_its_readers(
    demo_services: Services, demo: DemoData, demo_client: TestClient
) -> None:
    auditor = demo_services.tokens.issue(Role.AUDITOR).token
    kinds = set()
    for agreement in demo.agreements:
        answer = demo_client.get(
            f"/v1/agreements/{agreement.agreement_id}/ocds", headers=bearer(auditor)
        )
        assert answer.status_code == 200, answer.text
        package = answer.json()
        assert release_package_errors(package) == [], agreement.handle
        releases = package["releases"]
        view = demo_client.get(f"/v1/agreements/{agreement.agreement_id}", headers=bearer(auditor))
        assert len(releases) == view.json()["version"]  # one release per version
        assert {r["ocid"] for r in releases} == {f"ocds-tris00-{agreement.agreement_id}"}
        assert len({r["id"] for r in releases}) == len(releases)
        kinds |= {tag for r in releases for tag in r["tag"]}
        text = answer.text
        assert not [p for p in PERSONAL if p in text], agreement.handle
        money = agreement.handle == "spende"  # a donation of 500 EUR, the demo's only money
        assert ("value" in set(keys(package))) is money  # cooperation is not money
        if money:
            contract = package["releases"][-1]["contracts"][0]
            assert contract["value"] == {"amount": 500, "currency": "EUR"}
    assert kinds == {"contract", "contractAmendment", "implementation", "contractTermination"}


def test_the_berlin_agreement_maps_as_the_adr_says(
    demo_services: Services, demo: DemoData, demo_client: TestClient
) -> None:
    marktplatz = demo.agreement("marktplatz")
    package = demo_client.get(f"/v1/public/agreements/{marktplatz.agreement_id}/ocds").json()
    assert release_package_errors(package) == []
    releases = package["releases"]
    last = releases[-1]
    contract = last["contracts"][0]
    assert last["tag"] == ["contractTermination"] and contract["status"] == "terminated"
    assert releases[0]["contracts"][0]["status"] == "pending"
    units = {item["unit"].get("id") for item in contract["items"]}
    assert {"HUR", "DAY", "H87"} <= units
    amendment = contract["amendments"][0]
    ids = [r["id"] for r in releases]
    assert amendment["amendsReleaseID"] in ids and amendment["releaseID"] in ids
    assert ids.index(amendment["releaseID"]) == ids.index(amendment["amendsReleaseID"]) + 1
    assert "Ottopark" in amendment["rationale"]
    met = [m for m in contract["implementation"]["milestones"] if m["status"] == "met"]
    assert met and all(m["dateMet"].endswith("T00:00:00Z") for m in met)
    signed = [d for d in contract["documents"] if d["documentType"] == "contractSigned"]
    assert len(signed) >= 8 and contract["dateSigned"]
    bakery = next(p for p in last["parties"] if p["name"] == "Kiezbäckerei Schulz GmbH")
    assert bakery["identifier"]["scheme"] == "DE-CR"
    assert "supplier" in bakery["roles"]


def test_a_market_deal_names_its_market_and_notary(
    demo: DemoData, demo_client: TestClient, demo_services: Services
) -> None:
    auditor = demo_services.tokens.issue(Role.AUDITOR).token
    market = demo.markets[0]
    deals = demo_client.get(
        "/v1/agreements", params={"limit": 200}, headers=bearer(auditor)
    ).json()["items"]
    found = False
    for item in deals:
        package = demo_client.get(f"/v1/agreements/{item['id']}/ocds", headers=bearer(auditor))
        last = package.json()["releases"][-1]
        if last.get("relatedProcesses"):
            found = True
            process = last["relatedProcesses"][0]
            assert process["identifier"] == market.market_id and process["title"] == market.title
            roles = {role for p in last["parties"] for role in p["roles"]}
            if any(
                d["documentType"] == "x-notarisation"
                for d in last["contracts"][0].get("documents", [])
            ):
                assert "notary" in roles
    assert found


def test_the_public_record_is_merged_by_ocdsmerge(demo: DemoData, demo_client: TestClient) -> None:
    marktplatz = demo.agreement("marktplatz")
    ocid = f"ocds-tris00-{marktplatz.agreement_id}"
    answer = demo_client.get(f"/v1/public/ocds/records/{ocid}")
    assert answer.status_code == 200, answer.text
    package = answer.json()
    assert record_package_errors(package) == []
    record = package["records"][0]
    assert record["ocid"] == ocid
    expected = Merger(schema=release_schema()).create_compiled_release(record["releases"])
    assert record["compiledRelease"] == json.loads(json.dumps(expected))
    assert record["compiledRelease"]["tag"] == ["compiled"]
    assert record["compiledRelease"]["contracts"][0]["status"] == "terminated"


def test_nothing_unpublished_is_ocds_without_a_token(
    demo: DemoData, demo_client: TestClient
) -> None:
    for handle in ("haus", "sichtbarkeit", "spende"):  # restricted, proposed, withdrawn
        agreement_id = demo.agreement(handle).agreement_id
        assert demo_client.get(f"/v1/public/agreements/{agreement_id}/ocds").status_code == 404
        record = demo_client.get(f"/v1/public/ocds/records/ocds-tris00-{agreement_id}")
        assert record.status_code == 404, handle
    for ocid in ("ocds-other-00000000-0000-0000-0000-000000000000", "ocds-tris00-nope", "x"):
        assert demo_client.get(f"/v1/public/ocds/records/{ocid}").status_code == 404
    assert demo_client.get(f"/v1/public/ocds/records/{'x' * 300}").status_code == 422


def test_the_validator_is_offline_and_strict() -> None:
    """The checks above mean something: a wrong date, an unknown tag, a missing field fail."""
    release = {
        "ocid": "ocds-tris00-x",
        "id": "1",
        "date": "yesterday",
        "tag": ["bargain"],
        "initiationType": "tender",
    }
    package = {
        "uri": "not a uri",
        "version": "1.1",
        "publishedDate": "2026-12-04T00:00:00Z",
        "publisher": {"name": "TRIS"},
        "releases": [release],
    }
    found = "\n".join(release_package_errors(package))
    assert "yesterday" in found and "bargain" in found and "not a uri" in found
    assert errors({"ocid": "x"}, "release-schema.json")


def test_the_cli_exports_every_published_agreement_as_one_valid_package(
    database_url: str, tmp_path: Path, demo: DemoData, demo_services: Services
) -> None:
    out = tmp_path / "ocds.json"
    done = subprocess.run(
        [sys.executable, "-m", "tris", "export", "--format", "ocds", "--out", str(out)],
        env=tris_env(database_url, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    package = json.loads(out.read_text(encoding="utf-8"))
    assert release_package_errors(package) == []
    published = {r["ocid"].removeprefix("ocds-tris00-") for r in package["releases"]}
    assert demo.agreement("marktplatz").agreement_id in published
    assert demo.agreement("haus").agreement_id not in published
    assert len(published) == demo_services.open_contracting.published_count() == 4
    assert not [p for p in PERSONAL if p in out.read_text(encoding="utf-8")]
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "tris",
            "export",
            "--format",
            "ocds",
            "--out",
            str(out),
            "--after",
            "3",
        ],
        env=tris_env(database_url, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
