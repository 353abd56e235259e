"""Run one benchmark workload inside one load-generator process and time every request.

A `LoadSpec` names the operation, the concurrency in this process, and both bounds (request
count and wall-clock duration); `run_load` is the process entry point and returns a
`LoadResult` with per-request latencies, errors and the CPU the client itself used.
Every loop stops at whichever bound comes first, and a hard cancel scope stops a hung
server from holding the benchmark forever.
"""

from __future__ import annotations

import array
import hashlib
import os
import random
import re
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Literal

import anyio

from bench.client import Connection, Response
from bench.sigv4 import Signer, canonical_query, uri_path

Op = Literal["put", "get", "list", "bigput", "bigget"]
# Extra time past the duration bound before in-flight requests are cancelled outright.
_HARD_GRACE = 60.0
_TOKEN = re.compile(rb"<NextContinuationToken>([^<]*)</NextContinuationToken>")


@dataclass(frozen=True)
class Target:
    """Where to send requests, and as whom."""

    host: str
    port: int
    access_key: str
    secret_key: str
    region: str
    bucket: str


@dataclass(frozen=True)
class LoadSpec:
    op: Op
    target: Target
    concurrency: int
    count: int  # requests in this process, split over its tasks
    duration: float  # seconds after start_at
    start_at: float  # time.time() at which every process starts sending
    size: int = 4096  # object size for put/bigput
    prefix: str = "small"  # key prefix written (put) or listed (list)
    worker: int = 0  # this process's index, to keep keys unique across processes
    # get/bigget: the key prefixes to read and how many keys each one has.
    keys: tuple[tuple[str, int], ...] = ()
    page_size: int = 1000


@dataclass
class LoadResult:
    ops: int = 0
    errors: int = 0
    first_error: str = ""
    latencies: bytes = b""  # array('d') of seconds, one per successful request
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0
    payload_bytes: int = 0
    # put: (key prefix, keys written) per task, to feed a later get.
    written: list[tuple[str, int]] = field(default_factory=list)
    list_keys: int = 0  # list: keys seen over all pages


def run_load(spec: LoadSpec) -> LoadResult:
    """Process entry point: run the workload on asyncio (uvloop when installed)."""
    try:
        import uvloop  # noqa: F401

        options = {"use_uvloop": True}
    except ImportError:
        options = {}
    return anyio.run(_run, spec, backend="asyncio", backend_options=options)


def warm_up() -> int:
    """Import everything in a fresh pool process before any timing starts."""
    return os.getpid()


@dataclass
class _Task:
    index: int
    quota: int
    result: LoadResult
    latencies: array.array[float]


async def _run(spec: LoadSpec) -> LoadResult:
    if spec.concurrency < 1 or spec.count < 1:
        raise ValueError(f"{spec.op}: concurrency and count must be >= 1")
    t = spec.target
    signer = Signer(t.access_key, t.secret_key, t.region, f"{t.host}:{t.port}")
    result = LoadResult()
    base, extra = divmod(spec.count, spec.concurrency)
    tasks = [
        _Task(i, base + (1 if i < extra else 0), result, array.array("d"))
        for i in range(spec.concurrency)
    ]
    connections = [Connection(t.host, t.port) for _ in tasks]
    cpu0 = time.process_time()
    deadline = spec.start_at + spec.duration
    with anyio.move_on_after(max(0.0, spec.start_at - time.time()) + spec.duration + _HARD_GRACE):
        async with anyio.create_task_group() as tg:
            for task, conn in zip(tasks, connections, strict=True):
                tg.start_soon(_drive, spec, signer, conn, task, deadline)
    for conn in connections:
        await conn.aclose()
    result.cpu_seconds = time.process_time() - cpu0
    result.finished = time.time()
    result.started = spec.start_at
    merged = array.array("d")
    for task in tasks:
        merged.extend(task.latencies)
    result.latencies = merged.tobytes()
    return result


async def _drive(
    spec: LoadSpec, signer: Signer, conn: Connection, task: _Task, deadline: float
) -> None:
    if task.quota == 0:
        return
    result = task.result
    op = _make_op(spec, signer, conn, task)
    # Open the connection before the start line so connects are not timed.
    bucket_path = uri_path(spec.target.bucket)
    try:
        await conn.request("HEAD", bucket_path, signer.headers("HEAD", bucket_path))
    except (OSError, anyio.BrokenResourceError, ValueError) as exc:
        result.errors += 1
        result.first_error = result.first_error or f"connect: {type(exc).__name__}: {exc}"
        return
    await anyio.sleep(max(0.0, spec.start_at - time.time()))
    clock = time.perf_counter
    for i in range(task.quota):
        if time.time() >= deadline:
            break
        t0 = clock()
        try:
            ok, detail, nbytes = await op(i)
        except (OSError, anyio.BrokenResourceError, ValueError) as exc:
            ok, detail, nbytes = False, f"{type(exc).__name__}: {exc}", 0
        if ok:
            task.latencies.append(clock() - t0)
            result.ops += 1
            result.payload_bytes += nbytes
        else:
            result.errors += 1
            if not result.first_error:
                result.first_error = detail


OpFn = Callable[[int], Awaitable[tuple[bool, str, int]]]


def _failure(response: Response, what: str) -> tuple[bool, str, int]:
    return False, f"{what} -> HTTP {response.status}: {response.body[:300]!r}", 0


def _make_op(spec: LoadSpec, signer: Signer, conn: Connection, task: _Task) -> OpFn:
    bucket = spec.target.bucket
    rng = random.Random(f"{spec.worker}-{task.index}")
    if spec.op in ("put", "bigput"):
        key_prefix = f"{spec.prefix}/{spec.worker}-{task.index}-"
        task.result.written.append((key_prefix, 0))
        slot = len(task.result.written) - 1
        body = bytearray(rng.randbytes(spec.size))
        # Hashing 64 MiB would be timed as client work; large bodies are prepared up front.
        prehashed: dict[int, tuple[bytes, str]] = {}

        async def put(i: int) -> tuple[bool, str, int]:
            # Distinct bytes per object: the store deduplicates by content, and identical
            # bodies would skip the blob write the benchmark is meant to measure.
            if spec.op == "bigput" and i in prehashed:
                payload, digest = prehashed.pop(i)
            else:
                payload, digest = _unique(body, spec.worker, task.index, i)
            path = uri_path(bucket, f"{key_prefix}{i}")
            response = await conn.request(
                "PUT", path, signer.headers("PUT", path, "", digest), payload
            )
            if response.status != 200:
                return _failure(response, f"PUT {path}")
            task.result.written[slot] = (key_prefix, i + 1)
            return True, "", len(payload)

        if spec.op == "bigput":
            for i in range(task.quota):
                prehashed[i] = _unique(body, spec.worker, task.index, i)
        return put

    if spec.op in ("get", "bigget"):
        choices = [(prefix, n) for prefix, n in spec.keys if n > 0]
        if not choices:
            raise ValueError(f"{spec.op}: no keys to read (the PUT phase wrote none)")
        sink = spec.op == "bigget"

        async def get(i: int) -> tuple[bool, str, int]:
            prefix, n = choices[rng.randrange(len(choices))] if not sink else choices[0]
            key = f"{prefix}{rng.randrange(n)}" if not sink else f"{prefix}{i % n}"
            path = uri_path(bucket, key)
            response = await conn.request("GET", path, signer.headers("GET", path), sink=sink)
            if response.status != 200:
                return _failure(response, f"GET {path}")
            return True, "", response.body_length

        return get

    if spec.op == "list":
        token: list[str] = []

        async def list_page(i: int) -> tuple[bool, str, int]:
            params = {
                "list-type": "2",
                "max-keys": str(spec.page_size),
                "prefix": f"{spec.prefix}/",
            }
            if token:
                params["continuation-token"] = token[0]
            query = canonical_query(params)
            path = uri_path(bucket)
            response = await conn.request(
                "GET", f"{path}?{query}", signer.headers("GET", path, query)
            )
            if response.status != 200:
                token.clear()
                return _failure(response, f"ListObjectsV2 {query}")
            task.result.list_keys += response.body.count(b"<Key>")
            match = _TOKEN.search(response.body)
            token.clear()
            if match and b"<IsTruncated>true</IsTruncated>" in response.body:
                token.append(unescape(match.group(1).decode()))
            return True, "", response.body_length

        return list_page
    raise ValueError(f"unknown operation {spec.op!r}")


def _unique(body: bytearray, worker: int, task: int, i: int) -> tuple[bytes, str]:
    struct.pack_into(">QQQ", body, 0, worker, task, i)
    payload = bytes(body)
    return payload, hashlib.sha256(payload).hexdigest()
