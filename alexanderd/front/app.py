"""The ASGI application of the front: one request in, one rendered Response out.

Every response carries x-amz-request-id; every error is the S3 XML document for its code
(no body on HEAD); an unexpected exception becomes InternalError with the request id logged.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import time
from typing import Any

import anyio
import structlog

from alexanderd import metrics
from alexanderd.front.auth import KeyCache, authenticate
from alexanderd.front.body import ClientGone
from alexanderd.front.clients import BlobPools, ChannelPool
from alexanderd.front.errors import S3Error, from_remote, render_error, s3_error
from alexanderd.front.ratelimit import RateLimiter
from alexanderd.front.request import (
    Request,
    client_address,
    join_headers,
    new_request_id,
    parse_query,
    resolve_address,
    vhost_bucket,
)
from alexanderd.front.response import Response
from alexanderd.front.router import route
from protocol.errors import RemoteError
from protocol.lifecycle import BootFront
from protocol.logs import get_logger
from protocol.meta import Ping, Pong

log = get_logger("front")
SERVER = "AlexanderS3"
HEALTH_PATHS = (b"/healthz", b"/readyz")


class S3App:
    def __init__(self, boot: BootFront) -> None:
        self.boot = boot
        self.meta = ChannelPool(boot.meta_socket)
        self.blobs = BlobPools(boot.blob_sockets)
        self.keys = KeyCache(self.meta, boot.key_cache_ttl)
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in boot.trusted_proxies]
        self.limiter = (
            RateLimiter(boot.rate_limit_rps, boot.rate_limit_burst, boot.redis, boot.runtime)
            if boot.rate_limit_rps
            else None
        )
        self.host_id = secrets.token_urlsafe(24)
        self.in_flight = 0
        self.started = anyio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.started.set()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        headers = join_headers(scope["headers"])
        req = Request(
            method=scope["method"],
            raw_path=scope.get("raw_path") or scope["path"].encode(),
            query_string=scope.get("query_string", b""),
            headers=headers,
            receive=receive,
            rid=new_request_id(),
        )
        client = scope.get("client")
        req.client_ip, req.scheme = client_address(
            client[0] if client else "", headers, self.trusted, scope.get("scheme", "http")
        )
        structlog.contextvars.bind_contextvars(rid=req.rid)
        self.in_flight += 1
        metrics.IN_FLIGHT.inc()
        status = 500
        try:
            resp = await self._respond(req)
            if resp is None:
                status = 499  # the client went away; nothing to send
                return
            status = resp.status
            await self._render(req, resp, send)
        finally:
            self.in_flight -= 1
            metrics.IN_FLIGHT.dec()
            elapsed = time.perf_counter() - start
            metrics.REQUESTS.labels(operation=req.operation, status=str(status)).inc()
            metrics.LATENCY.labels(operation=req.operation).observe(elapsed)
            metrics.BYTES_IN.inc(req.bytes_in)
            structlog.contextvars.unbind_contextvars("rid")

    async def _respond(self, req: Request) -> Response | None:
        try:
            return await self._dispatch(req)
        except S3Error as exc:
            return self._error(req, exc)
        except RemoteError as exc:
            # "header:<name>" details become response headers (x-amz-delete-marker, ...).
            extra = [(k[7:], v) for k, v in exc.details.items() if k.startswith("header:")]
            details = {k: v for k, v in exc.details.items() if not k.startswith("header:")}
            mapped = from_remote(exc.error_code, exc.message, details)
            if mapped.status >= 500:
                log.error("backend error", code=exc.error_code, message=exc.message)
            resp = self._error(req, mapped)
            resp.headers.extend(extra)
            return resp
        except ClientGone:
            log.info("client disconnected mid-request", op=req.operation)
            return None
        except Exception:
            log.exception("unhandled error", op=req.operation)
            return self._error(req, s3_error("InternalError"))

    def _error(self, req: Request, err: S3Error) -> Response:
        body = b"" if req.is_head else render_error(err, req.resource, req.rid, self.host_id)
        resp = Response(status=err.status, body=body)
        if body:
            resp.headers.append(("Content-Type", "application/xml"))
        if err.code == "SlowDown" or err.status == 503:
            resp.headers.append(("Retry-After", "1"))
        return resp

    async def _dispatch(self, req: Request) -> Response:
        # A bucket may be named healthz: only an anonymous, query-less GET is a probe.
        if (
            req.raw_path in HEALTH_PATHS
            and "authorization" not in req.headers
            and not req.query_string
            and req.method in ("GET", "HEAD")
        ):
            return await self._health(req)
        host = req.headers.get("host", "")
        req.bucket, req.key = resolve_address(req.raw_path, host, self.boot.domain)
        req.vhost = vhost_bucket(host, self.boot.domain) is not None
        req.query = parse_query(req.query_string)
        parsed, ctx = await authenticate(req, self.keys, self.boot.region)
        if self.limiter is not None:
            client = req.access_key_id or f"ip:{req.client_ip}"
            if not await self.limiter.allow(client):
                raise s3_error("SlowDown", "Please reduce your request rate.")
        return await route(self, req, parsed, ctx)

    async def _health(self, req: Request) -> Response:
        req.operation = "Health"
        if req.raw_path == b"/healthz":
            return _json(200, {"status": "ok"})
        checks: dict[str, Any] = {}
        with anyio.move_on_after(2.0):
            try:
                pong = await self.meta.request(Ping(rid=req.rid), Pong)
                checks["meta"] = "ok"
                checks["database"] = "ok" if pong.database else "unreachable"
                checks.update({k: v for k, v in pong.detail.items()})
            except RemoteError as exc:
                checks["meta"] = f"unreachable: {exc.message}"
        checks.setdefault("meta", "timeout")
        alive = 0
        for pool in self.blobs.pools:
            alive += 1 if await pool.probe() else 0
        checks["blob_workers"] = f"{alive}/{len(self.blobs.pools)}"
        ready = checks["meta"] == "ok" and checks.get("database") == "ok" and alive > 0
        return _json(
            200 if ready else 503, {"status": "ready" if ready else "unready", "checks": checks}
        )

    async def _render(self, req: Request, resp: Response, send: Any) -> None:
        headers = [
            (b"x-amz-request-id", req.rid.encode()),
            (b"x-amz-id-2", self.host_id.encode()),
            (b"server", SERVER.encode()),
        ]
        for name, value in resp.headers:
            headers.append((name.encode("latin-1"), value.encode("latin-1", "replace")))
        length = resp.length if resp.length is not None else len(resp.body)
        if resp.status != 304 and length is not None:
            headers.append((b"content-length", str(length).encode()))
        try:
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            if resp.stream is None or req.is_head or resp.status == 304:
                body = b"" if req.is_head or resp.status == 304 else resp.body
                await send({"type": "http.response.body", "body": body})
                return
            sent = 0
            try:
                async for piece in resp.stream:
                    sent += len(piece)
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
            finally:
                metrics.BYTES_OUT.inc(sent)
                with anyio.CancelScope(shield=True):
                    await resp.stream.aclose()
            await send({"type": "http.response.body", "body": b""})
        finally:
            if resp.closer is not None:
                with anyio.CancelScope(shield=True):
                    await resp.closer()


def _json(status: int, data: dict[str, Any]) -> Response:
    body = json.dumps(data).encode()
    return Response(status=status, headers=[("Content-Type", "application/json")], body=body)
