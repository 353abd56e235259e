"""Run real S3 command-line clients (aws-cli, s3cmd, rclone, curl) against a real daemon.

Each CLI gets its own config in a temp directory and an environment stripped of the caller's AWS
settings, so nothing on the machine leaks in. Over HTTPS every client verifies the daemon against
the self-signed certificate from `tests.e2e.tls`; none of them switches verification off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.clients_endpoint import Endpoint

BIN = Path(sys.executable).parent
# Files stay under this and every CLI below has a 64 MiB multipart threshold, so each upload is a
# single PUT whose ETag is the content MD5 (multipart has its own suite, test_multipart.py).
SINGLE_PUT_LIMIT = 8 * 1024 * 1024
CLI_TIMEOUT = 120.0


def require(binary: str | Path) -> str:
    """The binary's path; fails the test (never skips) when it is missing."""
    found = shutil.which(str(binary))
    if found is None:
        raise AssertionError(
            f"client binary {binary} is not installed; `make test` installs it "
            "(rclone: Debian package `rclone`; aws/s3cmd: the venv's dev extras)"
        )
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without AWS/rclone/s3cmd settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RCLONE_", "S3CMD_", "REQUESTS_CA", "SSL_CERT", "CURL_CA"))
    }
    env.update(extra)
    return env


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a client; on failure the assertion shows the command, its output and exit status."""
    result = subprocess.run(
        args, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} -> exit {result.returncode}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
    return result


class AwsCli:
    """aws-cli v1 from the venv with an isolated config (path style, 64 MiB multipart threshold)."""

    def __init__(self, ep: Endpoint, home: Path) -> None:
        self.ep = ep
        self.binary = require(BIN / "aws")
        home.mkdir(parents=True, exist_ok=True)
        (home / "credentials").write_text(
            f"[default]\naws_access_key_id = {ep.access_key}\n"
            f"aws_secret_access_key = {ep.secret_key}\n"
        )
        (home / "config").write_text(
            "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
        )
        self.env = clean_env(
            HOME=str(home),
            AWS_CONFIG_FILE=str(home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
        )
        # Through `aws configure set`, as a user would: the CLI's own writer produces what it reads.
        run([self.binary, "configure", "set", "default.s3.multipart_threshold", "64MB"], self.env)
        assert "multipart_threshold = 64MB" in (home / "config").read_text()

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        tls = ["--ca-bundle", str(self.ep.ca_file)] if self.ep.ca_file else []
        return run([self.binary, "--endpoint-url", self.ep.url, *tls, *args], self.env, check=check)


class S3cmd:
    """s3cmd from the venv with a config file for path-style SigV4 (and the CA over https)."""

    def __init__(self, ep: Endpoint, home: Path) -> None:
        self.ep = ep
        self.binary = require(BIN / "s3cmd")
        home.mkdir(parents=True, exist_ok=True)
        self.config = home / "s3cfg"
        lines = [
            "[default]",
            f"access_key = {ep.access_key}",
            f"secret_key = {ep.secret_key}",
            # host_bucket without %(bucket)s makes s3cmd use path-style requests.
            f"host_base = {ep.netloc}",
            f"host_bucket = {ep.netloc}",
            "bucket_location = us-east-1",
            "signature_v2 = False",
            f"use_https = {ep.https}",
            "check_ssl_certificate = True",
            "check_ssl_hostname = True",
            f"ca_certs_file = {ep.ca_file or ''}",
            "multipart_chunk_size_mb = 64",
        ]
        self.config.write_text("\n".join(lines) + "\n")
        self.env = clean_env(HOME=str(home))

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            [self.binary, "--config", str(self.config), "--disable-multipart", *args],
            self.env,
            check=check,
        )


class Rclone:
    """Debian's rclone with an environment-configured remote named `x:`."""

    def __init__(self, ep: Endpoint, home: Path) -> None:
        self.ep = ep
        self.binary = require("/usr/bin/rclone")
        home.mkdir(parents=True, exist_ok=True)
        config = home / "rclone.conf"
        config.write_text("")
        self.env = clean_env(
            HOME=str(home),
            RCLONE_CONFIG=str(config),
            RCLONE_CONFIG_X_TYPE="s3",
            RCLONE_CONFIG_X_PROVIDER="Other",
            RCLONE_CONFIG_X_ACCESS_KEY_ID=ep.access_key,
            RCLONE_CONFIG_X_SECRET_ACCESS_KEY=ep.secret_key,
            RCLONE_CONFIG_X_ENDPOINT=ep.url,
            RCLONE_CONFIG_X_REGION="us-east-1",
            RCLONE_CONFIG_X_FORCE_PATH_STYLE="true",
        )

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        tls = ["--ca-cert", str(self.ep.ca_file)] if self.ep.ca_file else []
        # One try each: a server error must fail the test, not be retried into a pass.
        flags = ["--s3-upload-cutoff", "64M", "--retries", "1", "--low-level-retries", "1"]
        return run([self.binary, *flags, *tls, *args], self.env, check=check)


def curl(ep: Endpoint, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """curl with the daemon's CA over https (`--cacert`); `-sS` so errors still print."""
    tls = ["--cacert", str(ep.ca_file)] if ep.ca_file else []
    return run([require("curl"), "-sS", *tls, *args], clean_env(), check=check)


def curl_sigv4(ep: Endpoint, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """curl signing with SigV4 itself, unchanged: curl before 8.x (Debian 12 ships 7.88) sends
    no x-amz-content-sha256 and signs the empty-body hash; the server accepts that."""
    return curl(
        ep,
        "--aws-sigv4",
        "aws:amz:us-east-1:s3",
        "--user",
        f"{ep.access_key}:{ep.secret_key}",
        *args,
        check=check,
    )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tree_digests(root: Path) -> dict[str, str]:
    """relative posix path -> sha256 of every regular file under root."""
    return {
        p.relative_to(root).as_posix(): file_sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def sample_files(seed: str) -> dict[str, bytes]:
    """A small tree with nesting, an empty file, a space and a unicode name, a few MiB in all."""
    blob = hashlib.sha256(seed.encode()).digest()
    return {
        "top.txt": b"hello " + seed.encode(),
        "empty.bin": b"",
        "dir/mid.bin": blob * 4096,  # 128 KiB
        "dir/sub/deep file.dat": (blob * 32768)[: 3 * 1024 * 1024 + 17],  # ~3 MiB
        "dir/ünï.txt": "ключ 鍵".encode(),
    }
