"""alexanderctl's command line: parse, call the daemon, print, exit with a documented code.

Exit codes:
    0  success
    1  the daemon refused the request (unknown user, bad argument, rejected config, ...)
    2  usage error (bad command line)
    3  the daemon is not reachable (not running, wrong --socket)
    4  permission denied on the control socket
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from alexanderd.ctl.client import DEFAULT_SOCKET, Refused, Unreachable, call
from alexanderd.ctl.render import render

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_DENIED = 0, 1, 2, 3, 4


def _socket_from_config(path: str) -> str:
    from alexanderd.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        raise SystemExit(f"alexanderctl: {path}: " + "; ".join(exc.problems)) from None
    return os.path.join(config.server.runtime_dir, "control.sock")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alexanderctl",
        description="Administer a running alexanderd.",
        epilog="exit codes: 0 ok, 1 refused by the daemon, 2 usage, 3 daemon unreachable, "
        "4 permission denied",
    )
    p.add_argument("--socket", help=f"control socket (default {DEFAULT_SOCKET})")
    p.add_argument("--config", help="read the control socket location from this config file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("status", help="children, pids, states, restarts, uptime, listen addresses")
    sub.add_parser("reload", help="reload the config file (as SIGHUP)")
    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    user.add_parser("create").add_argument("name")
    user.add_parser("list")
    user.add_parser("delete").add_argument("name")
    key = sub.add_parser("key", help="manage access keys").add_subparsers(
        dest="action", required=True
    )
    key.add_parser("create").add_argument("user")
    key.add_parser("list").add_argument("--user")
    key.add_parser("revoke").add_argument("access_key_id")
    gc = sub.add_parser("gc", help="garbage collection").add_subparsers(
        dest="action", required=True
    )
    gc_run = gc.add_parser("run", help="run one GC pass now and report what it freed")
    gc_run.add_argument("--grace-period", type=float, help="seconds (overrides gc.grace_period)")
    gc_run.add_argument("--dry-run", action="store_true")
    sub.add_parser("scrub", help="re-hash every blob, quarantine and report mismatches")
    migrate = sub.add_parser("migrate", help="database schema migrations").add_subparsers(
        dest="action", required=True
    )
    migrate.add_parser("status", help="migrations this build knows and when each was applied")
    return p


def to_request(ns: argparse.Namespace) -> tuple[str, dict[str, str]]:
    cmd = ns.command
    if cmd in ("status", "reload"):
        return cmd, {}
    if cmd == "scrub":
        return "scrub.run", {}
    action = ns.action
    args: dict[str, str] = {}
    if cmd == "user" and action in ("create", "delete"):
        args["name"] = ns.name
    elif (cmd == "key" and action == "create") or (cmd == "key" and action == "list" and ns.user):
        args["user"] = ns.user
    elif cmd == "key" and action == "revoke":
        args["access_key_id"] = ns.access_key_id
    elif cmd == "gc":
        if ns.grace_period is not None:
            if ns.grace_period < 0:
                raise SystemExit("alexanderctl: --grace-period must be >= 0")
            args["grace_period"] = str(ns.grace_period)
        if ns.dry_run:
            args["dry_run"] = "true"
    return f"{cmd}.{action}", args


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    sock = ns.socket or os.environ.get("ALEXANDERD_CONTROL_SOCKET")
    if not sock:
        sock = _socket_from_config(ns.config) if ns.config else DEFAULT_SOCKET
    verb, args = to_request(ns)
    try:
        data: Any = call(sock, verb, args)
    except Unreachable as exc:
        print(f"alexanderctl: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except Refused as exc:
        denied = exc.code == "PermissionDenied" or "permission denied" in exc.message
        print(f"alexanderctl: {exc.message}", file=sys.stderr)
        return EXIT_DENIED if denied else EXIT_REFUSED
    if ns.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(render(verb, data))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
