"""Checks that need more than one key or the host itself, run on an already type-checked tree.

Each check looks only at keys that passed validation (an invalid key is absent from the
cleaned tree), so one mistake is reported once, not again as a knock-on effect here.
"""

from __future__ import annotations

import grp
import os
import pwd
from typing import Any

from alexanderd.config.errors import Problems
from alexanderd.config.units import format_duration

_WILDCARDS = frozenset({"0.0.0.0", "::", "[::]", ""})


def check_semantics(cleaned: dict[str, Any], problems: Problems) -> None:
    """Record cross-key and host problems, and fill the defaults that depend on other keys."""
    server = cleaned.get("server", {})
    _check_heartbeat(server, problems)
    _check_tls(server.get("tls", {}), problems)
    _check_identity(server, problems)
    _check_port_clash(server, cleaned.get("metrics", {}), problems)
    _default_sqlite_path(cleaned)


def _check_heartbeat(server: dict[str, Any], problems: Problems) -> None:
    interval, timeout = server.get("heartbeat_interval"), server.get("heartbeat_timeout")
    if interval is None or timeout is None or timeout > interval:
        return
    problems.add(
        "server.heartbeat_timeout",
        f"must be longer than server.heartbeat_interval ({format_duration(interval)}) "
        f"(got {format_duration(timeout)})",
    )


def _check_tls(tls: dict[str, Any], problems: Problems) -> None:
    if tls.get("enabled") is not True:
        return
    for key in ("cert_file", "key_file"):
        if key not in tls:
            continue  # invalid, already reported
        path, name = tls[key], f"server.tls.{key}"
        if path is None:
            problems.add(name, "is required when server.tls.enabled is true")
        elif not os.path.exists(path):
            problems.add(name, f"{path} does not exist")
        elif not os.path.isfile(path):
            problems.add(name, f"{path} is not a regular file")
        elif not os.access(path, os.R_OK):
            problems.add(name, f"{path} is not readable by this user")


def _check_identity(server: dict[str, Any], problems: Problems) -> None:
    # Checked at load so a typo fails `check-config`, not the privilege drop after binding.
    user, group = server.get("user"), server.get("group")
    if user is not None:
        try:
            pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except KeyError:
            problems.add("server.user", f"no user {user!r} on this host")
    if group is not None:
        try:
            grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)
        except KeyError:
            problems.add("server.group", f"no group {group!r} on this host")


def _check_port_clash(server: dict[str, Any], metrics: dict[str, Any], problems: Problems) -> None:
    port = server.get("port")
    if not metrics.get("enabled") or not port or metrics.get("port") != port:
        return
    hosts = {server.get("host"), metrics.get("host")}
    if len(hosts) == 1 or hosts & _WILDCARDS:
        problems.add("metrics.port", f"is the same as server.port ({port}) on an overlapping host")


def _default_sqlite_path(cleaned: dict[str, Any]) -> None:
    database = cleaned.get("database", {})
    base_path = cleaned.get("storage", {}).get("filesystem", {}).get("base_path")
    if database.get("driver") == "sqlite" and database.get("path") == "" and base_path:
        database["path"] = os.path.join(base_path, "meta.db")
