"""10,000 random and malformed bodies over HTTPS: no crash, no 5xx, only 200, 400 or 413.

Bodies are valid reviews mutated at random (a seeded generator, so a failure replays):
values replaced by random JSON at random paths, keys deleted, bytes truncated or flipped,
random bytes, deep nesting. Every 200 must be a well-formed answer whose patch applies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import json
import random
import ssl
from collections.abc import AsyncIterator
from typing import Any

import h11
import jsonpatch
import pytest

from kubecap.domain.control import TEMPORARY_REPLICAS, Unmanaged
from kubecap.store import Store
from kubecap.testing.admission import HPA, body, review, scale_review, workload
from tests.control.builders import NOW, policy, spec
from tests.control.conftest import Running, TlsFiles, serve_webhook

BODIES = 10_000
SEED = 20261123


def seeds() -> list[dict[str, Any]]:
    base = workload(replicas=5)
    changed = copy.deepcopy(base)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "x:2"
    override = workload(replicas=5, annotations={TEMPORARY_REPLICAS: "9@2030-01-01T00:00:00Z"})
    return [
        review(base),
        review(changed, base),
        review(override),
        review(workload("other", replicas=1)),
        review(workload("db", kind="StatefulSet")),
        scale_review(replicas=8),
        scale_review(replicas=8, user=HPA),
        review(None, base, operation="DELETE"),
    ]


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(12 if depth < 3 else 8)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.randint(-(2**70), 2**70)
    if choice == 3:
        return rng.choice([0, -1, 1, 2**31, 2**31 - 1, 10**6])
    if choice == 4:
        return rng.uniform(-1e308, 1e308)
    if choice == 5:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(0, 20)))
    if choice == 6:
        return rng.choice(["", "1000m", "1Gi", "-1", "1e999", "NaN", "9@2030-01-01T00:00:00Z", "~/", "a/b"])
    if choice == 7:
        return rng.choice(["CREATE", "UPDATE", "scale", "apps", "v1", "Deployment", "Scale"])
    if choice in (8, 9):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {random_json_key(rng): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def random_json_key(rng: random.Random) -> str:
    return rng.choice(
        ["name", "resources", "requests", "limits", "cpu", "memory", "spec", "replicas", "x/y", "~"]
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


def mutate_document(rng: random.Random, document: dict[str, Any]) -> bytes:
    doc = copy.deepcopy(document)
    for _ in range(rng.randrange(1, 4)):
        targets = paths(doc)
        path = rng.choice(targets[1:]) if len(targets) > 1 else ()
        if not path:
            break
        parent: Any = doc
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.3 and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = random_json(rng)
    return json.dumps(doc).encode()


def fuzz_body(rng: random.Random, documents: list[dict[str, Any]]) -> bytes:
    document = rng.choice(documents)
    kind = rng.randrange(10)
    if kind <= 4:
        return mutate_document(rng, document)
    raw = body(document)
    if kind == 5:
        return raw[: rng.randrange(len(raw))]
    if kind == 6:
        data = bytearray(raw)
        for _ in range(rng.randrange(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 7:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 2000)))
    if kind == 8:
        depth = rng.choice([10, 1000, 100_000])
        return (
            (b"[" * depth + b"]" * depth) if rng.random() < 0.5 else (b'{"a":' * depth + b"1" + b"}" * depth)
        )
    return json.dumps(random_json(rng)).encode()


@pytest.fixture
async def fuzzed(sqlite_url: str, tls_files: TlsFiles) -> AsyncIterator[Running]:
    async with await Store.open(sqlite_url) as store:
        await store.save_control_specs([spec(), spec("db")], now=NOW, actor="alice", reason="")
        await store.save_namespace_policy(policy(unmanaged=Unmanaged.REJECT), now=NOW, actor="alice")
        async with serve_webhook(store, tls_files) as served:
            yield served


class Connection:
    """A lean HTTP/1.1 keep-alive client over TLS (h11): the fuzzer must not be slower than the server."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port = port
        self.context = context
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.h11 = h11.Connection(h11.CLIENT)

    async def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await self.stream[1].wait_closed()
            self.stream = None

    async def post(self, payload: bytes) -> tuple[int, bytes]:
        if self.stream is None or self.h11.our_state is not h11.IDLE:
            await self.close()
            self.stream = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.context)
            self.h11 = h11.Connection(h11.CLIENT)
        reader, writer = self.stream
        headers = [
            ("Host", "127.0.0.1"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
        ]
        writer.write(
            self.h11.send(h11.Request(method="POST", target="/mutate?timeout=10s", headers=headers))
            + self.h11.send(h11.Data(data=payload))
            + self.h11.send(h11.EndOfMessage())
        )
        await writer.drain()
        status, chunks = 0, []
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise AssertionError(f"unexpected {event!r}")
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        return status, b"".join(chunks)


async def test_ten_thousand_random_and_malformed_bodies(fuzzed: Running, tls_files: TlsFiles) -> None:
    rng = random.Random(SEED)
    documents = seeds()
    bodies = [fuzz_body(rng, documents) for _ in range(BODIES)]
    statuses: dict[int, int] = {}
    port = int(fuzzed.url.rsplit(":", 1)[1])

    async def worker(share: list[bytes]) -> None:
        connection = Connection(port, tls_files.client_context())
        try:
            for payload in share:
                status, answer_body = await connection.post(payload)
                check(payload, status, answer_body)
        finally:
            await connection.close()

    def check(payload: bytes, status: int, answer_body: bytes) -> None:
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400, 413), (status, payload[:300])
        document = json.loads(answer_body)
        if status != 200:
            assert "error" in document
            return
        answer = document["response"]
        request = json.loads(payload)["request"]
        assert answer["uid"] == request["uid"]
        if "patch" in answer:
            jsonpatch.apply_patch(request["object"], json.loads(base64.b64decode(answer["patch"])))

    await asyncio.gather(*(worker(bodies[i::8]) for i in range(8)))
    assert sum(statuses.values()) == BODIES
    assert statuses.get(200, 0) > 500 and statuses.get(400, 0) > 5000, statuses
    metrics = (await fuzzed.client.get(fuzzed.url + "/metrics")).text
    assert "kubecap_webhook_internal_errors_total 0.0" in metrics
    assert (await fuzzed.client.get(fuzzed.url + "/healthz")).status_code == 200
