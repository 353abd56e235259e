"""`server.user`: started as root, the daemon binds first, then hands its directories over and
drops to that user for good. Run in a forked child so the test process keeps root."""

from __future__ import annotations

import os
import pwd
import secrets
from pathlib import Path

import pytest

from alexanderd.cli import _drop_privileges
from alexanderd.config import parse_config


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_drop_privileges_to_server_user(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    (data_dir / "blobs").mkdir(parents=True)
    run_dir.mkdir()
    (data_dir / "meta.db").write_bytes(b"")
    config = parse_config(
        f"""
server: {{user: nobody, runtime_dir: {run_dir}}}
storage: {{filesystem: {{base_path: {data_dir}}}}}
auth: {{master_key: {secrets.token_hex(32)}}}
""",
        env={},
    )
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _drop_privileges(config)
            try:
                os.setuid(0)
                regained = "regained root"
            except PermissionError:
                regained = "cannot regain root"
            out = f"{os.getuid()} {os.getgid()} {os.getgroups()} {regained}"
        except Exception as exc:
            out = f"error {exc!r}"
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    result = os.read(r, 1000).decode()
    os.close(r)
    assert result == f"{nobody.pw_uid} {nobody.pw_gid} [] cannot regain root", result
    for path in (run_dir, data_dir, data_dir / "blobs", data_dir / "meta.db"):
        assert path.stat().st_uid == nobody.pw_uid, path
