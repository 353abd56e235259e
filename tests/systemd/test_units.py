"""The systemd unit files: systemd's own verifier and security analysis accept them, the
hardening asked for is there, and tmpfiles creates the directories with the right owner and mode."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICE = UNITS / "alexanderd.service"
SOCKET = UNITS / "alexanderd.socket"
TMPFILES = UNITS / "alexanderd.tmpfiles.conf"

Unit = dict[str, list[tuple[str, str]]]


def parse_unit(path: Path) -> Unit:
    """Sections to (key, value) lists in file order; repeated keys kept (systemd allows them)."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}:{number}: assignment outside a section"
        assert "=" in line, f"{path.name}:{number}: not a key=value line: {raw!r}"
        assert not line.endswith("\\"), f"{path.name}:{number}: continuation lines not expected"
        key, value = line.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def single(unit: Unit, section: str, key: str) -> str:
    found = values(unit, section, key)
    assert len(found) == 1, f"[{section}] {key}= expected once, found {found}"
    return found[0]


def tool(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None
    )
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package `systemd` (`make tools`)")
    return path


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart points at an executable that exists here, since
    verify rejects a missing binary and /usr/bin/alexanderd is only there once installed."""
    fake = tmp_path / "bin" / "alexanderd"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    out = tmp_path / "units"
    out.mkdir()
    text = SERVICE.read_text()
    assert "ExecStart=/usr/bin/alexanderd " in text
    (out / SERVICE.name).write_text(
        text.replace("ExecStart=/usr/bin/alexanderd ", f"ExecStart={fake} ")
    )
    shutil.copy(SOCKET, out / SOCKET.name)
    return out


def test_systemd_analyze_verify_reports_nothing(unit_dir: Path) -> None:
    result = subprocess.run(
        [
            tool("systemd-analyze"),
            "verify",
            str(unit_dir / SOCKET.name),
            str(unit_dir / SERVICE.name),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = (result.stdout + result.stderr).strip()
    # verify exits 0 on many problems (unknown keys, bad values are warnings): any output fails.
    assert result.returncode == 0 and report == "", f"systemd-analyze verify:\n{report}"


def test_security_exposure_stays_low(unit_dir: Path) -> None:
    # Exposure is 0-10 (shown as 1.4 "OK"); --threshold takes it times ten. Losing a handful of
    # hardening directives pushes it over 2.0.
    result = subprocess.run(
        [
            tool("systemd-analyze"),
            "security",
            "--offline=true",
            "--threshold=20",
            "--no-pager",
            str(unit_dir / SERVICE.name),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ReadWritePaths": "/var/lib/alexander",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "UMask": "0027",
}

SERVICE_SETTINGS = {
    "Type": "notify",
    "NotifyAccess": "main",
    "ExecStart": "/usr/bin/alexanderd run --config /etc/alexanderd/alexanderd.yaml",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "User": "alexander",
    "Group": "alexander",
    "RuntimeDirectory": "alexanderd",
    "RuntimeDirectoryMode": "0750",
    "StateDirectory": "alexander",
    "WatchdogSec": "30s",
    "Restart": "on-failure",
    "TimeoutStopSec": "45s",
    "KillMode": "mixed",
    "LimitNOFILE": "65536",
}


@pytest.mark.parametrize(("key", "expected"), sorted({**SERVICE_SETTINGS, **HARDENING}.items()))
def test_service_setting(key: str, expected: str) -> None:
    assert single(parse_unit(SERVICE), "Service", key) == expected


def test_memory_deny_write_execute_choice_is_explained() -> None:
    lines = SERVICE.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("MemoryDenyWriteExecute="))
    comment = " ".join(line for line in lines[max(0, at - 8) : at] if line.startswith("#"))
    assert "cffi" in comment and "uvloop" in comment, "say why W^X is on or off"


def test_socket_activates_the_service() -> None:
    service, socket_unit = parse_unit(SERVICE), parse_unit(SOCKET)
    assert values(socket_unit, "Socket", "ListenStream") == ["8080"]
    assert single(socket_unit, "Socket", "Service") == "alexanderd.service"
    assert single(socket_unit, "Install", "WantedBy") == "sockets.target"
    assert single(service, "Service", "Sockets") == "alexanderd.socket"
    assert "alexanderd.socket" in values(service, "Unit", "Requires")
    assert "alexanderd.socket" in values(service, "Unit", "After")
    assert single(service, "Install", "Also") == "alexanderd.socket"


def tmpfiles_lines() -> list[list[str]]:
    return [
        line.split()
        for line in TMPFILES.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_tmpfiles_declares_the_directories() -> None:
    assert tmpfiles_lines() == [
        ["d", "/run/alexanderd", "0750", "alexander", "alexander", "-", "-"],
        ["d", "/var/lib/alexander", "0750", "alexander", "alexander", "-", "-"],
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="systemd-tmpfiles must be root to chown")
def test_tmpfiles_creates_them_with_owner_and_mode(tmp_path: Path) -> None:
    # --root resolves users in the root's own /etc/passwd: no need for the user on this host.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("alexander:x:4321:4321::/nonexistent:/bin/false\n")
    (tmp_path / "etc" / "group").write_text("alexander:x:4321:\n")
    result = subprocess.run(
        [tool("systemd-tmpfiles"), "--create", f"--root={tmp_path}", str(TMPFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    for directory in ("run/alexanderd", "var/lib/alexander"):
        info = (tmp_path / directory).stat()
        assert stat.S_ISDIR(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o750, directory
        assert (info.st_uid, info.st_gid) == (4321, 4321), directory
