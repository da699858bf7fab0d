"""Validation against the official OCDS 1.1.5 schemas kept in the package: Draft 4, with a
format checker, and a registry that holds the schemas themselves, so no `$ref` is fetched."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import tris.application.opendata.ocds as ocds

SCHEMAS = Path(ocds.__file__).parent


@cache
def schema(name: str) -> dict[str, Any]:
    with (SCHEMAS / name).open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def registry() -> Registry:
    """The three schemas under their own ids; anything else is unresolvable (offline)."""
    resources = [
        (schema(name)["id"], Resource(contents=schema(name), specification=DRAFT4))
        for name in ("release-schema.json", "release-package-schema.json")
    ]
    return Registry().with_resources(resources)


def errors(document: Any, name: str) -> list[str]:
    """Every way `document` breaks the schema `name` (empty: valid)."""
    validator = Draft4Validator(
        schema(name), registry=registry(), format_checker=Draft4Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def release_package_errors(document: Any) -> list[str]:
    """Errors of a release package (its releases checked by the release schema)."""
    return errors(document, "release-package-schema.json")


def record_package_errors(document: Any) -> list[str]:
    """Errors of a record package: no official 1.1.5 record package schema ships offline,
    so its envelope and each record's releases are checked as a release package, each
    compiled release by the release schema, and each record's own fields here."""
    found: list[str] = []
    envelope = {k: v for k, v in document.items() if k not in ("records", "packages")}
    records = document.get("records")
    if not isinstance(records, list) or not records:
        return ["records: a record package holds at least one record"]
    for index, record in enumerate(records):
        where = f"records/{index}"
        if not isinstance(record, dict) or not isinstance(record.get("ocid"), str):
            found.append(f"{where}/ocid: missing")
            continue
        releases = record.get("releases")
        if not isinstance(releases, list) or not releases:
            found.append(f"{where}/releases: missing")
            continue
        if any(r.get("ocid") != record["ocid"] for r in releases):
            found.append(f"{where}/releases: a release of another ocid")
        found += [
            f"{where}: {e}" for e in release_package_errors({**envelope, "releases": releases})
        ]
        compiled = record.get("compiledRelease")
        if compiled is not None:
            found += [
                f"{where}/compiledRelease: {e}" for e in errors(compiled, "release-schema.json")
            ]
    return found
