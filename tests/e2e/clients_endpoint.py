"""The daemons the client suites talk to: how to start one over http or https, and the shared pair.

Starting a daemon costs 6-10 s on the 2-core test machine (three processes boot in turn, then
four `alexanderctl` calls); with two schemes and ten modules that was 16 starts, more than half
of the suite's run time. So `shared_endpoint` keeps one http and one https daemon for the whole test
process, both configured with the virtual-host domain, and the modules' fixtures take theirs from
it. Every test makes its own uniquely named buckets, so modules cannot see each other's data.
`serve` still starts a private daemon for a module that needs one (other config, or a daemon it
will stop).
"""

from __future__ import annotations

import atexit
import copy
import shutil
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

from tests.e2e.clients_sigv4 import Credentials, RawClient
from tests.e2e.daemon import Daemon
from tests.e2e.tls import make_self_signed

VHOST_DOMAIN = "s3.test"  # the certificate from tests.e2e.tls also covers *.s3.test
SCHEMES = ("http", "https")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one running daemon."""

    daemon: Daemon
    url: str
    access_key: str
    secret_key: str
    ca_file: Path | None  # set for https: the self-signed certificate, used as the CA bundle

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")

    @property
    def netloc(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def port(self) -> int:
        port = urlsplit(self.url).port
        assert port is not None, self.url
        return port

    @property
    def creds(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)

    def raw(self) -> RawClient:
        return RawClient(self.url, self.creds, self.ca_file)

    def boto3(self, **config: Any) -> Any:
        """A boto3 client with default checksum settings, path style, no retries, verifying TLS."""
        s3cfg = {"addressing_style": "path", **config.pop("s3", {})}
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=BotoConfig(retries={"max_attempts": 1, "mode": "standard"}, s3=s3cfg, **config),
            verify=str(self.ca_file) if self.ca_file else True,
        )


def serve(
    scheme: str, workdir: Path, config: dict[str, Any] | None = None
) -> Generator[Endpoint, None, None]:
    """Start one daemon over `scheme` ("http" or "https"), yield its Endpoint, then clean up.

    Meant to be `yield from`-ed by a fixture."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, not {scheme!r}")
    extra: dict[str, Any] = copy.deepcopy(config or {})
    ca_file: Path | None = None
    if scheme == "https":
        tls = make_self_signed(workdir / "tls")
        ca_file = tls.cert
        extra.setdefault("server", {})["tls"] = tls.server_config()
    daemon = Daemon(config=extra)
    try:
        daemon.start()
        access, secret = daemon.create_key()
        url = daemon.endpoint
        assert url.startswith(f"{scheme}://"), f"daemon endpoint {url} is not {scheme}"
        yield Endpoint(daemon, url, access, secret, ca_file)
    finally:
        daemon.cleanup()


@dataclass
class _Running:
    server: Generator[Endpoint, None, None]
    endpoint: Endpoint
    workdir: Path


_shared: dict[str, _Running] = {}


def shared_endpoint(scheme: str) -> Endpoint:
    """The process-wide daemon for `scheme`, started on first use and stopped at exit.

    A daemon found dead (a crash in an earlier module) is replaced, so one crash fails the
    module that caused it and not every module after it."""
    running = _shared.get(scheme)
    if running is not None and running.endpoint.daemon.proc is not None:
        if running.endpoint.daemon.proc.poll() is None:
            return running.endpoint
        _stop(scheme)
    workdir = Path(tempfile.mkdtemp(prefix=f"axd-e2e-{scheme}-", dir="/tmp"))
    server = serve(scheme, workdir, {"server": {"domain": VHOST_DOMAIN}})
    try:
        endpoint = next(server)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if not _shared:
        atexit.register(_stop_all)
    _shared[scheme] = _Running(server, endpoint, workdir)
    return endpoint


def _stop(scheme: str) -> None:
    running = _shared.pop(scheme)
    try:
        running.server.close()  # runs serve()'s finally: Daemon.cleanup()
    finally:
        shutil.rmtree(running.workdir, ignore_errors=True)


def _stop_all() -> None:
    for scheme in list(_shared):
        _stop(scheme)
