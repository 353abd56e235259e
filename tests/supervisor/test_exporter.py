"""The metrics exporter and the multiprocess metrics it sums: real child processes write the
metric files, a real HTTP client scrapes the exporter, on both anyio backends."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from alexanderd import metrics
from alexanderd.supervisor import exporter
from alexanderd.supervisor.exporter import BadRequest, parse_head, serve_metrics

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CHILD = """
import os
from alexanderd import metrics
metrics.REQUESTS.labels(operation="GetObject", status="200").inc({requests})
metrics.REQUESTS.labels(operation="PutObject", status="403").inc()
metrics.LATENCY.labels(operation="GetObject").observe(0.003)
metrics.BYTES_IN.inc(1000)
metrics.IN_FLIGHT.inc({in_flight})
print(os.getpid())
"""


def child_env(multiproc_dir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), metrics.MULTIPROC_ENV: str(multiproc_dir)}


async def run_python(code: str, multiproc_dir: Path) -> str:
    result = await anyio.run_process(
        [sys.executable, "-c", textwrap.dedent(code)], env=child_env(multiproc_dir), check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


async def run_child(multiproc_dir: Path, requests: int, in_flight: int) -> int:
    """A process that records metrics the way a front does, then exits; returns its pid."""
    out = await run_python(CHILD.format(requests=requests, in_flight=in_flight), multiproc_dir)
    return int(out)


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes; returns status, headers, body."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        data = bytearray()
        while True:
            try:
                data += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                break
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    version, status, _reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.lower()] = value.strip()
    if "content-length" in headers:
        assert int(headers["content-length"]) == len(body) or not body
    return int(status), headers, body


async def get(
    port: int, target: str = "/metrics", extra: str = ""
) -> tuple[int, dict[str, str], bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n"
    return await exchange(port, request.encode())


def parse(body: bytes) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def multiproc_dir(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


@pytest.mark.anyio
async def test_scrape_sums_every_process_and_drops_dead_gauges(
    multiproc_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await run_child(multiproc_dir, requests=2, in_flight=3)
    second = await run_child(multiproc_dir, requests=5, in_flight=4)
    async with anyio.create_task_group() as tg:
        host, port = await tg.start(serve_metrics, "127.0.0.1", 0, "/metrics", str(multiproc_dir))
        assert host == "127.0.0.1" and port > 0

        status, headers, body = await get(port)
        assert status == 200
        assert headers["connection"] == "close"
        assert headers["content-type"].startswith("text/plain")
        samples = parse(body)
        get_200 = {"operation": "GetObject", "status": "200"}
        assert value(samples, "alexander_http_requests_total", **get_200) == 7.0
        put_403 = {"operation": "PutObject", "status": "403"}
        assert value(samples, "alexander_http_requests_total", **put_403) == 2.0
        assert value(samples, "alexander_http_received_bytes_total") == 2000.0
        assert value(samples, "alexander_http_requests_in_flight") == 7.0
        count = value(
            samples, "alexander_http_request_duration_seconds_count", operation="GetObject"
        )
        assert count == 2.0
        le_5ms = {"operation": "GetObject", "le": "0.005"}
        assert value(samples, "alexander_http_request_duration_seconds_bucket", **le_5ms) == 2.0

        # The supervisor reaps the first child: its requests stay counted, its in-flight go.
        monkeypatch.setenv(metrics.MULTIPROC_ENV, str(multiproc_dir))
        metrics.child_exited(first)
        samples = parse((await get(port))[2])
        assert value(samples, "alexander_http_requests_in_flight") == 4.0
        assert value(samples, "alexander_http_requests_total", **get_200) == 7.0
        metrics.child_exited(second)
        samples = parse((await get(port))[2])
        assert value(samples, "alexander_http_requests_in_flight") is None
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_bad_requests_get_errors_and_the_server_keeps_serving(
    multiproc_dir: Path,
) -> None:
    await run_child(multiproc_dir, requests=1, in_flight=0)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(serve_metrics, "127.0.0.1", 0, "/metrics", str(multiproc_dir))

        status, _, body = await exchange(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert status == 400 and b"not an HTTP request" in body
        status, _, body = await exchange(port, b"GARBAGE\r\n\r\n")
        assert status == 400 and b"malformed request line" in body
        status, _, _ = await exchange(port, b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n")
        assert status == 400
        status, _, body = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert status == 400 and b"Host" in body
        status, _, _ = await exchange(port, b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n")
        assert status == 505
        huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
        status, _, _ = await exchange(port, huge)
        assert status == 431
        status, headers, _ = await exchange(port, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 405 and headers["allow"] == "GET, HEAD"
        status, _, _ = await get(port, "/")
        assert status == 404
        # A client that connects and leaves without a word.
        stream = await anyio.connect_tcp("127.0.0.1", port)
        await stream.aclose()

        status, headers, body = await exchange(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200 and body == b"" and int(headers["content-length"]) > 0
        status, _, body = await get(port, "/metrics?name[]=alexander_child_up")
        assert status == 200 and b"alexander_http_requests_total" in body
        status, _, body = await exchange(port, b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status == 200
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_silent_client_times_out_without_holding_up_others(
    multiproc_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exporter, "READ_TIMEOUT", 0.2)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(serve_metrics, "127.0.0.1", 0, "/metrics", str(multiproc_dir))
        async with await anyio.connect_tcp("127.0.0.1", port) as slow:
            await slow.send(b"GET /metr")
            # Served while the slow client still holds its connection.
            assert (await get(port))[0] == 200
            reply = bytearray()
            while True:
                try:
                    reply += await slow.receive()
                except anyio.EndOfStream:
                    break
        assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_openmetrics_when_the_scraper_asks_for_it(multiproc_dir: Path) -> None:
    await run_child(multiproc_dir, requests=1, in_flight=0)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(serve_metrics, "127.0.0.1", 0, "/metrics", str(multiproc_dir))
        accept = "Accept: application/openmetrics-text; version=1.0.0\r\n"
        status, headers, body = await get(port, extra=accept)
        assert status == 200
        assert headers["content-type"].startswith("application/openmetrics-text")
        assert body.endswith(b"# EOF\n")
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_serve_metrics_rejects_bad_arguments(multiproc_dir: Path) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        await serve_metrics("127.0.0.1", 0, "metrics", str(multiproc_dir))
    with pytest.raises(ValueError, match="does not exist"):
        await serve_metrics("127.0.0.1", 0, "/metrics", str(multiproc_dir / "missing"))
    with pytest.raises(ValueError, match="out of range"):
        await serve_metrics("127.0.0.1", 70000, "/metrics", str(multiproc_dir))


def test_parse_head() -> None:
    request = parse_head(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a:9091\r\nAccept:  text/plain ")
    assert (request.method, request.target) == ("GET", "/metrics?x=1")
    assert request.headers == {"host": "a:9091", "accept": "text/plain"}
    with pytest.raises(BadRequest) as caught:
        parse_head(b"GET /metrics HTTP/1.1\r\n Host: folded\r\n")
    assert caught.value.status == 400


@pytest.mark.anyio
async def test_prepare_multiproc_dir_clears_a_previous_run(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    await run_child(directory, requests=9, in_flight=9)
    (directory / "notes.txt").write_text("not ours: kept")
    out = await run_python(
        f"""
        import os
        from alexanderd import metrics
        metrics.prepare_multiproc_dir({str(directory)!r})
        print(sorted(os.listdir({str(directory)!r})))
        metrics.CHILD_RESTARTS.labels(role="blob").inc()
        metrics.CHILD_UP.labels(role="blob", child="blob-0").set(1)
        print(sorted(os.listdir({str(directory)!r})))
        """,
        directory,
    )
    before, after = out.splitlines()
    assert before == "['notes.txt']"
    assert "counter_" in after and "gauge_livesum_" in after

    async with anyio.create_task_group() as tg:
        _, port = await tg.start(serve_metrics, "127.0.0.1", 0, "/metrics", str(directory))
        samples = parse((await get(port))[2])
        tg.cancel_scope.cancel()
    assert value(samples, "alexander_child_restarts_total", role="blob") == 1.0
    # The previous run's 9 in flight are gone; the new process's own gauge reads 0.
    assert value(samples, "alexander_http_requests_in_flight") == 0.0
    get_200 = {"operation": "GetObject", "status": "200"}
    assert value(samples, "alexander_http_requests_total", **get_200) is None


@pytest.mark.parametrize(
    ("code", "message"),
    [
        pytest.param(
            "import prometheus_client, os\n"
            "os.environ['PROMETHEUS_MULTIPROC_DIR'] = {d!r}\n"
            "from alexanderd import metrics\nmetrics.prepare_multiproc_dir({d!r})",
            "imported before PROMETHEUS_MULTIPROC_DIR was set",
            id="prometheus_client-imported-first",
        ),
        pytest.param(
            "from alexanderd import metrics\nmetrics.IN_FLIGHT.inc()\n"
            "metrics.prepare_multiproc_dir({d!r})",
            "metrics were used before prepare_multiproc_dir",
            id="metric-used-first",
        ),
    ],
)
def test_prepare_multiproc_dir_refuses_a_wrong_order(
    tmp_path: Path, code: str, message: str
) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = child_env(directory)
    if "import prometheus_client" in code:
        del env[metrics.MULTIPROC_ENV]
    result = subprocess.run(
        [sys.executable, "-c", code.format(d=str(directory))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_child_exited_rejects_a_bad_pid() -> None:
    with pytest.raises(ValueError, match="not a process id"):
        metrics.child_exited(0)
