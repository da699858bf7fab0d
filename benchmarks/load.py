"""The load generator, run as its own process: concurrent HTTP clients with a fixed mix.

    python -m benchmarks.load --base-url URL --scenario tris|naive --concurrency 16 \
        --warmup 1.5 --duration 8 [--members members.json]

Each client is an asyncio task with its own keep-alive connection, speaking plain
HTTP/1.1 (a small client of our own, so that the load process spends as little of the
machine's two cores as it can). Every response is checked for its expected status
(and, for TRIS, its ETag); latencies are kept for requests that finish inside the
measured window. The result is one JSON object on stdout.

Scenario `tris`, per agreement (7 commands): propose (201), revise (201), sign by each
of the three parties (201; the third concludes it), record a fulfilment (201), confirm
it (200; completes the agreement). Each command carries an Idempotency-Key and, for an
existing agreement, If-Match with the ETag of the previous answer, as a client must.
Scenario `naive`: `POST /orders` (201).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import resource
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.stats import percentile


class UnexpectedResponseError(Exception):
    """A response other than the one the scenario expects."""


@dataclass
class Response:
    """Status, lower-case headers and body of one HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def quick_ack(writer: asyncio.StreamWriter) -> None:
    """Acknowledge the next segments at once (Linux re-arms delayed ACKs, so once per request).

    uvicorn with `--workers N` leaves Nagle on for accepted sockets (uvicorn issue 3149):
    a response written in two parts then waits for the client's delayed ACK, about 40 ms
    per keep-alive request whatever the server does. Both servers measured here are run by
    that supervisor; acknowledging at once measures the servers, not that timer.
    """
    sock = writer.get_extra_info("socket")
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is not None and quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class Connection:
    """One keep-alive HTTP/1.1 connection (Content-Length or chunked bodies)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Response:
        """Send one request and read its response (reconnecting when the server closed)."""
        payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(payload)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + payload
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(data)
        quick_ack(self.writer)
        response = await self._read(self.reader)
        if response.headers.get("connection", "").lower() == "close":
            await self.close()
        return response

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = b""
        return Response(status, headers, body)

    async def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Party:
    """A party the load acts as: its token and private signing key."""

    party_id: str
    token: str
    key_id: str
    key: Ed25519PrivateKey

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Party:
        """From what the harness wrote for the load process."""
        raw = base64.b64decode(data["private_key"])
        return cls(
            data["party_id"], data["token"], data["key_id"],
            Ed25519PrivateKey.from_private_bytes(raw),
        )  # fmt: skip


@dataclass
class Recorder:
    """Latencies and counts of requests that finished inside the measured window."""

    start: float
    stop: float
    latencies: list[float] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    completed_outside: int = 0

    def record(self, kind: str, began: float, ended: float) -> None:
        """Keep one request's latency when it finished inside the window."""
        if self.start <= ended <= self.stop:
            self.latencies.append(ended - began)
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.by_kind.setdefault(kind, []).append(ended - began)
        else:
            self.completed_outside += 1


def expect(response: Response, status: int, what: str) -> Response:
    """The response when it has the expected status, else UnexpectedResponseError."""
    if response.status != status:
        raise UnexpectedResponseError(
            f"{what}: expected {status}, got {response.status}: {response.body[:300]!r}"
        )
    return response


def signing_payload(agreement_id: str, view: dict[str, Any]) -> bytes:
    """The canonical bytes a party signs, computed from the agreement view as served."""
    content = view["content"]
    commitment_keys = ("id", "debtor", "beneficiary", "kind", "quantity", "unit")
    commitment_keys += ("description", "due_on")
    payload = {
        "agreement_id": agreement_id,
        "revision": view["revision"],
        "content": {
            "title": content["title"],
            "purpose": content["purpose"],
            "parties": content["parties"],
            "terms": {k: content["terms"][k] for k in ("text", "starts_on", "ends_on")},
            "commitments": [{k: c[k] for k in commitment_keys} for c in content["commitments"]],
        },
    }
    return bytes(rfc8785.dumps(payload))


def agreement_body(trio: list[Party], number: int, quantity: str) -> dict[str, Any]:
    """A proposal in which the second party owes the third `quantity` hours."""
    return {
        "title": f"Lastprobe {number}",
        "purpose": "Azubis kochen mit Nachbarn im Kiez",
        "parties": [p.party_id for p in trio],
        "terms": {"text": "Nach dem Marktplatz-Prinzip, ohne Geld", "starts_on": "2026-01-01"},
        "commitments": [
            {
                "debtor": trio[1].party_id,
                "beneficiary": trio[2].party_id,
                "kind": "time",
                "quantity": quantity,
                "unit": "hours",
                "description": "Kochen mit Azubis",
            }
        ],
    }


class TrisClient:
    """One client taking agreements through their whole life, one command at a time."""

    def __init__(self, conn: Connection, trio: list[Party], rec: Recorder, end: float) -> None:
        self.conn, self.trio, self.rec, self.end = conn, trio, rec, end
        self.numbers = itertools.count()

    async def command(
        self, kind: str, party: Party, path: str, body: Any, status: int, etag: str | None
    ) -> Response:
        headers = {
            "Authorization": f"Bearer {party.token}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        if etag is not None:
            headers["If-Match"] = etag
        began = time.monotonic()
        response = await self.conn.request("POST", path, headers, body)
        self.rec.record(kind, began, time.monotonic())
        expect(response, status, kind)
        if "etag" not in response.headers:
            raise UnexpectedResponseError(f"{kind}: no ETag in the answer")
        if response.headers.get("x-tris-replayed"):
            raise UnexpectedResponseError(f"{kind}: answered as a replay")
        return response

    async def run(self) -> None:
        """Agreements until the window ends."""
        state, business, civil = self.trio
        while time.monotonic() < self.end:
            number = next(self.numbers)
            proposed = await self.command(
                "propose", state, "/v1/agreements",
                agreement_body(self.trio, number, "3"), 201, None,
            )  # fmt: skip
            agreement_id = proposed.json()["id"]
            base = f"/v1/agreements/{agreement_id}"
            body = {**agreement_body(self.trio, number, "2"), "rationale": "Zwei Stunden"}
            answer = await self.command(
                "revise", business, f"{base}/revisions", body, 201, proposed.headers["etag"]
            )
            view = answer.json()
            payload = signing_payload(agreement_id, view)
            for party in self.trio:
                signature = base64.b64encode(party.key.sign(payload)).decode()
                body = {"revision": view["revision"], "key_id": party.key_id,
                        "signature": signature}  # fmt: skip
                answer = await self.command(
                    "sign", party, f"{base}/signatures", body, 201, answer.headers["etag"]
                )
            if answer.json()["status"] != "in_force":
                raise UnexpectedResponseError(f"not in force after signatures: {answer.body!r}")
            commitment_id = answer.json()["content"]["commitments"][0]["id"]
            body = {"quantity": "2", "delivered_on": "2026-05-01", "note": "gekocht"}
            answer = await self.command(
                "record_fulfilment", business,
                f"{base}/commitments/{commitment_id}/fulfilments", body, 201,
                answer.headers["etag"],
            )  # fmt: skip
            fulfilment_id = answer.json()["id"]
            answer = await self.command(
                "confirm_fulfilment", civil,
                f"{base}/fulfilments/{fulfilment_id}/confirmation", None, 200,
                answer.headers["etag"],
            )  # fmt: skip
            if answer.json()["status"] != "completed":
                raise UnexpectedResponseError(f"not completed: {answer.body!r}")


class NaiveClient:
    """One client placing orders with the naive peer."""

    def __init__(self, conn: Connection, rec: Recorder, end: float, client: int) -> None:
        self.conn, self.rec, self.end, self.client = conn, rec, end, client

    async def run(self) -> None:
        """Orders until the window ends."""
        for number in itertools.count():
            if time.monotonic() >= self.end:
                return
            body = {"name": f"order {self.client}-{number}", "quantity": number % 7 + 1}
            began = time.monotonic()
            response = await self.conn.request("POST", "/orders", {}, body)
            self.rec.record("place_order", began, time.monotonic())
            expect(response, 201, "place_order")
            if "id" not in response.json():
                raise UnexpectedResponseError(f"place_order: no id in {response.body!r}")


async def run_clients(args: argparse.Namespace) -> dict[str, Any]:
    """Start the clients, let them run through warm-up and window, and summarise."""
    url = urlsplit(args.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    trios: list[list[Party]] = []
    if args.scenario == "tris":
        with open(args.members) as handle:
            members = [Party.from_json(m) for m in json.load(handle)["trios"]]
        trios = [members[i : i + 3] for i in range(0, len(members) - 2, 3)]
    now = time.monotonic()
    start, stop = now + args.warmup, now + args.warmup + args.duration
    rec = Recorder(start, stop)

    async def client(index: int) -> None:
        conn = Connection(host, port)
        try:
            while time.monotonic() < stop:
                runner: TrisClient | NaiveClient
                if args.scenario == "tris":
                    runner = TrisClient(conn, trios[index % len(trios)], rec, stop)
                else:
                    runner = NaiveClient(conn, rec, stop, index)
                try:
                    await runner.run()
                except UnexpectedResponseError as exc:
                    rec.errors.append(str(exc))
                    if len(rec.errors) > 50:
                        return
        finally:
            await conn.close()

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(client(i) for i in range(args.concurrency)))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    wall = time.monotonic() - now
    count = len(rec.latencies)
    lat_ms = [x * 1000 for x in rec.latencies]
    return {
        "scenario": args.scenario,
        "concurrency": args.concurrency,
        "seconds": args.duration,
        "requests": count,
        "per_s": count / args.duration,
        "p50_ms": percentile(lat_ms, 50) if lat_ms else None,
        "p99_ms": percentile(lat_ms, 99) if lat_ms else None,
        "by_kind": rec.kinds,
        # Where the median lies: each kind of command's own p50.
        "p50_ms_by_kind": {
            kind: percentile([x * 1000 for x in values], 50)
            for kind, values in sorted(rec.by_kind.items())
        },
        "errors": len(rec.errors),
        "first_errors": rec.errors[:3],
        "load_cpu_share": cpu / wall if wall > 0 else None,
        "load_cpu_s": cpu,
        # Every command the process completed, the warm-up's included: the CPU of the
        # server and the database is measured over the whole process too.
        "all_requests": count + rec.completed_outside,
    }


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run the load, print the summary as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--scenario", choices=("tris", "naive"), required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--members", help="JSON with the parties (scenario tris)")
    args = parser.parse_args(argv)
    result = asyncio.run(run_clients(args))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
