"""The open event stream over HTTP: pages, NDJSON, and a live SSE tail that survives reconnects."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.support.concurrency import joined
from tests.support.http import Api, Trio, bearer, build_services, content
from tests.support.late_writer import late_writer, proposing
from tests.support.scenario import draft, make_world
from tris.application.access import Role
from tris.application.opendata.export import write_export
from tris.application.opendata.stream import EventStream
from tris.bootstrap import Services
from tris.domain.values import Sector
from tris.interfaces.http.app import create_app
from tris.interfaces.http.routers import events as events_router

NDJSON = {"Accept": "application/x-ndjson"}
CONTACT = ("Henrike Geheimhaltung", "henrike.geheim@privacy-probe.example", "+49 30 7770001")


# -- helpers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentEvent:
    """One Server-Sent Event as a client receives it."""

    id: int
    event: str
    data: dict[str, Any]


def parse_sse(text: str) -> tuple[list[SentEvent], list[str]]:
    """The events and the comment lines of an SSE body."""
    events, comments = [], []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                comments.append(line)
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if "data" in fields:
            events.append(SentEvent(int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events, comments


def page_all(client: TestClient | httpx.Client, token: str, limit: int = 500) -> list[Any]:
    """Every item of the stream, read page by page."""
    items: list[Any] = []
    after = 0
    while True:
        answer = client.get(
            "/v1/events", params={"after": after, "limit": limit}, headers=bearer(token)
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if not body["items"]:
            assert body["next_after"] == after
            return items
        items += body["items"]
        after = body["next_after"]


def some_history(api: Api, trio: Trio) -> str:
    """A proposal signed into force, and a second proposal: about twenty events in all."""
    proposed = api.propose(trio.state, content(trio.business, trio.civil, trio.state))
    assert proposed.status_code == 201, proposed.text
    agreement_id = str(proposed.json()["id"])
    api.conclude(agreement_id, 1, trio.state, trio.business, trio.civil)
    other = api.propose(trio.business, content(trio.business, trio.civil, title="Zweites"))
    assert other.status_code == 201, other.text
    return agreement_id


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn on a free local port in this process; stopped afterwards."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def follow(
    base_url: str,
    token: str,
    *,
    until: Callable[[SentEvent, int], bool],
    last_event_id: int | None = None,
    after: int = 0,
    received: list[SentEvent] | None = None,
) -> list[SentEvent]:
    """Read the live tail until `until(event, count)`, then drop the connection.

    Events are appended to `received` (a new list unless given) as they arrive.
    """
    headers = bearer(token)
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    received = [] if received is None else received
    count = 0
    with (
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0)) as client,
        client.stream(
            "GET", "/v1/events/live", params={"after": after}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        block: list[str] = []
        for line in response.iter_lines():
            if line:
                block.append(line)
                continue
            events, _ = parse_sse("\n".join(block))
            block = []
            received += events
            count += len(events)
            if events and until(events[-1], count):
                break
    return received


# -- access ----------------------------------------------------------------------------------


def test_auditors_researchers_and_admins_read_the_stream_and_partners_do_not(
    api: Api, trio: Trio
) -> None:
    for role in ("auditor", "researcher"):
        token = api.issue_token(role)
        assert api.client.get("/v1/events", headers=bearer(token)).status_code == 200
    assert api.client.get("/v1/events", headers=api.admin).status_code == 200
    for path in ("/v1/events", "/v1/events/live"):
        refused = api.client.get(path, headers=trio.state.headers())
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert api.client.get(path).status_code == 401


def test_a_page_is_bounded_and_its_position_must_be_a_count(api: Api) -> None:
    for params in ({"limit": 501}, {"limit": 0}, {"after": -1}, {"after": "x"}):
        answer = api.client.get("/v1/events", params=params, headers=api.admin)
        assert answer.status_code == 422, params


# -- pages and NDJSON ------------------------------------------------------------------------


def test_pages_return_every_event_once_in_global_order(api: Api, trio: Trio) -> None:
    some_history(api, trio)
    researcher = api.issue_token("researcher")
    small = page_all(api.client, researcher, limit=3)
    assert [i["position"] for i in small] == list(range(1, len(small) + 1))
    assert small == page_all(api.client, researcher)
    first = small[0]
    assert set(first) == {
        "position", "aggregate_id", "aggregate_type", "version", "type", "event_version",
        "time", "actor", "data", "hash",
    }  # fmt: skip
    assert first["aggregate_type"] == "Party" and first["type"] == "Registered"
    assert len(first["hash"]) == 64


def test_ndjson_streams_the_rest_of_the_log_as_the_pages_and_the_export_show_it(
    api: Api, trio: Trio, services: Services
) -> None:
    some_history(api, trio)
    auditor = api.issue_token("auditor")
    answer = api.client.get("/v1/events", headers={**bearer(auditor), **NDJSON})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    streamed = [json.loads(line) for line in answer.text.split("\n") if line]
    assert streamed == page_all(api.client, auditor)

    exported = io.StringIO()
    write_export(EventStream(services.store), exported)
    lines = [json.loads(line) for line in exported.getvalue().split("\n") if line][1:]
    assert [{k: v for k, v in e.items() if k != "stored"} for e in lines] == streamed

    rest = api.client.get("/v1/events", params={"after": 5}, headers={**bearer(auditor), **NDJSON})
    positions = [json.loads(line)["position"] for line in rest.text.split("\n") if line]
    assert positions == list(range(6, len(streamed) + 1))
    json_wins = api.client.get(
        "/v1/events",
        headers={**bearer(auditor), "Accept": "application/json, application/x-ndjson;q=0.5"},
    )
    assert json_wins.headers["content-type"] == "application/json"


# -- live tail -------------------------------------------------------------------------------


def test_the_live_tail_sends_ids_types_and_items_and_resumes_after_last_event_id(
    api: Api, trio: Trio
) -> None:
    some_history(api, trio)
    researcher = api.issue_token("researcher")
    items = page_all(api.client, researcher)
    first = api.client.get(
        "/v1/events/live", params={"after": 0, "limit": 4}, headers=bearer(researcher)
    )
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    assert first.text.startswith("retry: ")
    events, _ = parse_sse(first.text)
    assert [e.id for e in events] == [1, 2, 3, 4]
    assert [e.event for e in events] == [i["type"] for i in items[:4]]
    assert [e.data for e in events] == items[:4]

    resumed = api.client.get(
        "/v1/events/live",
        params={"after": 0, "limit": 3},
        headers=bearer(researcher, **{"Last-Event-ID": "4"}),
    )
    assert [e.id for e in parse_sse(resumed.text)[0]] == [5, 6, 7]
    from_after = api.client.get(
        "/v1/events/live", params={"after": 10, "limit": 1}, headers=bearer(researcher)
    )
    assert [e.id for e in parse_sse(from_after.text)[0]] == [11]
    bad = api.client.get("/v1/events/live", headers=bearer(researcher, **{"Last-Event-ID": "abc"}))
    assert bad.status_code == 400


def test_an_idle_live_tail_sends_heartbeats_until_the_next_event(
    api: Api, trio: Trio, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_router, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(events_router, "POLL_SECONDS", 0.01)
    # The stream's waits, seen: every wait follows a heartbeat check, so once its waits
    # span twice the heartbeat interval, a heartbeat has been sent (however slowly the
    # machine runs, unlike a fixed pause before the next event).
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(time.monotonic())
        await anyio.sleep(seconds)

    monkeypatch.setattr(events_router, "anyio", SimpleNamespace(sleep=wait))
    head = EventStream(services.store).head()
    answers: list[httpx.Response] = []
    reader = threading.Thread(
        target=lambda: answers.append(
            api.client.get("/v1/events/live", params={"after": head, "limit": 1}, headers=api.admin)
        )
    )
    reader.start()
    deadline = time.monotonic() + 30
    while not (waits and waits[-1] - waits[0] >= 0.1) and time.monotonic() < deadline:
        time.sleep(0.01)
    api.register_party("Spätkauf am Leopoldplatz", "business")
    reader.join(timeout=30)
    events, comments = parse_sse(answers[0].text)
    assert [e.id for e in events] == [head + 1]
    assert ": keep-alive" in comments


def test_a_dropped_live_connection_resumes_without_loss_or_repetition(
    services: Services, trio: Trio, api: Api
) -> None:
    researcher = api.issue_token("researcher")
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    stream = EventStream(services.store)
    writes = 15
    target = stream.head() + writes
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(writes):
                services.agreements.propose(firm.ctx(), draft(firm, assoc, title=f"Live {n}"))
                time.sleep(0.03)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=write)
    seen: list[SentEvent] = []
    with serving(create_app(services)) as base_url:
        writer.start()
        last: int | None = None
        connections = 0
        while not seen or seen[-1].id < target:
            seen += follow(
                base_url,
                researcher,
                last_event_id=last,
                until=lambda event, count: count >= 4 or event.id >= target,
            )
            last = seen[-1].id
            connections += 1
        joined(writer)
    assert errors == []
    assert connections >= 3
    assert [e.id for e in seen] == list(range(1, target + 1))
    assert [e.data for e in seen] == stream.page(0, 500).items


# -- personal data ---------------------------------------------------------------------------


def test_researcher_answers_hold_no_personal_data_at_all(api: Api, trio: Trio) -> None:
    name, email, phone = CONTACT
    party = api.register_party(
        "Familienzentrum Brunnenviertel",
        "civil_society",
        contacts=[{"name": name, "email": email, "phone": phone}],
    )
    some_history(api, trio)
    admin_view = api.client.get(f"/v1/parties/{party['id']}", headers=api.admin).text
    assert name in admin_view and email in admin_view  # the data is kept, and shown to admins
    researcher_token = api.issue_token("researcher")
    researcher = bearer(researcher_token)
    head = len(page_all(api.client, researcher_token))
    answers = [
        api.client.get(path, headers={**researcher, **extra}, params=params)
        for path, params, extra in (
            ("/v1/parties", {}, {}),
            (f"/v1/parties/{party['id']}", {}, {}),
            (f"/v1/parties/{trio.civil.party_id}", {}, {}),
            ("/v1/events", {"limit": 500}, {}),
            ("/v1/events", {}, NDJSON),
            ("/v1/events/live", {"limit": head}, {}),
            ("/v1/agreements", {}, {}),
            ("/v1/stats", {}, {}),
        )
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        for secret in (*CONTACT, "Geheimhaltung", "privacy-probe", "7770001", "Erika Muster"):
            assert secret not in answer.text, (answer.request.url, secret)
        assert "sealed" not in answer.text and "erika@example.org" not in answer.text


def test_contacts_in_the_stream_are_person_ids_for_every_reader(api: Api) -> None:
    name, email, phone = CONTACT
    party = api.register_party(
        "Familienzentrum Brunnenviertel",
        "civil_society",
        contacts=[{"name": name, "email": email, "phone": phone}],
    )
    person_id = party["contacts"][0]["id"]
    for token in (api.admin_token, api.issue_token("auditor"), api.issue_token("researcher")):
        registered = page_all(api.client, token)[0]
        assert registered["data"]["contacts"] == [{"id": person_id}]


# -- PostgreSQL: a late writer ---------------------------------------------------------------


@pytest.fixture
def pg_services(postgres_cluster: Any) -> Iterator[Services]:
    built = build_services(postgres_cluster.create_database(), projections="inline")
    yield built
    built.close()


@pytest.mark.postgres
def test_the_live_tail_waits_for_a_late_writer_and_then_sends_every_event_once(
    pg_services: Services,
) -> None:
    services = pg_services
    token = services.tokens.issue(Role.RESEARCHER).token
    world = make_world(services)
    firm = world.add("Kiezbäckerei Schulz GmbH", Sector.BUSINESS)
    assoc = world.add("Nachbarschaftshaus Moabit e.V.", Sector.CIVIL_SOCIETY)
    store = services.store
    head_before = EventStream(store).head()
    seen: list[SentEvent] = []

    with serving(create_app(services)) as base_url:
        tail = threading.Thread(
            target=follow,
            args=(base_url, token),
            kwargs={"until": lambda e, _: e.id >= head_before + 5, "received": seen},
        )
        tail.start()
        with late_writer(services, firm):
            # Others save meanwhile; each waits for the numbering lock the late writer holds.
            others = proposing(services, firm, assoc)
            time.sleep(0.5)
            assert [e.id for e in seen] == list(range(1, head_before + 1))
        joined(*others)
        tail.join(timeout=30)

    assert [e.id for e in seen] == list(range(1, head_before + 6))
    assert seen[head_before].event == "DetailsUpdated"
    assert [e.event for e in seen[head_before + 1 :]] == ["Proposed"] * 4


# -- stream limits ---------------------------------------------------------------------------


class OpenStream:
    """A live stream held open after its first line (the `retry:` line) until `close`."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self._context = client.stream("GET", "/v1/events/live", headers=bearer(token))
        response = self._context.__enter__()
        assert response.status_code == 200, response.read()
        self._lines = response.iter_lines()  # kept: dropping it would close the stream
        next(self._lines)

    def close(self) -> None:
        self._context.__exit__(None, None, None)


def open_live(client: httpx.Client, token: str) -> OpenStream:
    """Open a live stream and read its first line; the caller closes it."""
    return OpenStream(client, token)


def test_a_token_holds_a_bounded_number_of_streams_open(
    services: Services, trio: Trio, api: Api
) -> None:
    researcher = api.issue_token("researcher")
    other = api.issue_token("researcher")
    limit = services.stream_slots.per_token
    with (
        serving(create_app(services)) as base_url,
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0)) as client,
    ):
        opened = [open_live(client, researcher) for _ in range(limit)]
        refused = client.get("/v1/events/live", headers=bearer(researcher))
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        export = client.get("/v1/events/export", headers=bearer(researcher))
        assert export.status_code == 429
        ndjson = client.get("/v1/events", headers=bearer(researcher, Accept="application/x-ndjson"))
        assert ndjson.status_code == 429
        # Another token is not affected; a closed stream gives its slot back.
        extra = open_live(client, other)
        extra.close()
        opened.pop().close()
        held = token_id(services, researcher)
        deadline = time.monotonic() + 10
        while services.stream_slots.open_for(held) >= limit and time.monotonic() < deadline:
            time.sleep(0.1)  # the server notices the closed connection at its next poll
        reopened = open_live(client, researcher)
        reopened.close()
        assert client.get("/v1/events", headers=bearer(researcher)).status_code == 200
        for context in opened:
            context.close()


def token_id(services: Services, secret: str) -> str:
    principal = services.tokens.authenticate(secret)
    assert principal is not None
    return principal.token_id


def test_a_revoked_tokens_open_stream_ends_within_two_seconds(
    services: Services, trio: Trio, api: Api
) -> None:
    issued = api.client.post("/v1/tokens", json={"role": "researcher"}, headers=api.admin).json()
    with (
        serving(create_app(services)) as base_url,
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0)) as client,
        client.stream("GET", "/v1/events/live", headers=bearer(issued["token"])) as response,
    ):
        lines = response.iter_lines()
        next(lines)
        revoked = api.client.delete(f"/v1/tokens/{issued['token_id']}", headers=api.admin)
        assert revoked.status_code == 204
        started = time.monotonic()
        for _ in lines:  # drains until the server ends the stream
            pass
        assert time.monotonic() - started < 2.5


def test_live_streams_read_the_log_only_when_the_head_moves(
    services: Services, trio: Trio, api: Api
) -> None:
    """One watcher per process reads the head; idle streams cost the database nothing."""
    researcher = api.issue_token("researcher")
    pages: list[int] = []
    original = services.stream.page

    def counted(after: int, limit: int) -> Any:
        pages.append(after)
        return original(after, limit)

    services.stream.page = counted  # type: ignore[method-assign]
    with (
        serving(create_app(services)) as base_url,
        httpx.Client(base_url=base_url, timeout=httpx.Timeout(30.0)) as client,
    ):
        streams = [open_live(client, researcher) for _ in range(3)]
        time.sleep(0.5)
        pages.clear()
        time.sleep(2.0)  # idle: ten polling rounds each, formerly ten page reads each
        idle_reads = len(pages)
        for context in streams:
            context.close()
    assert idle_reads == 0
