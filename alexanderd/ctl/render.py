"""Human-readable output of alexanderctl (the --json output is the raw reply)."""

from __future__ import annotations

import time
from typing import Any


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) if ts else "-"


def render(verb: str, data: Any) -> str:
    if verb == "status":
        head = [
            f"alexanderd {data['version']}  pid {data['pid']}  uptime {data['uptime']:.0f}s  "
            f"generation {data['generation']}",
            f"listening on {', '.join(data['listen'])}"
            + (f"; metrics on {data['metrics']}" if data.get("metrics") else ""),
        ]
        rows = [
            [c["name"], c["state"], str(c["pid"] or "-"), str(c["restarts"]), f"{c['uptime']:.0f}s"]
            for c in data["children"]
        ]
        return (
            "\n".join(head) + "\n" + _table(rows, ["CHILD", "STATE", "PID", "RESTARTS", "UPTIME"])
        )
    if verb == "user.create":
        return f"created user {data['name']} (id {data['user_id']})"
    if verb == "user.list":
        rows = [
            [u["name"], u["user_id"], str(u.get("keys", 0)), _when(u["created"])]
            for u in data["users"]
        ]
        return _table(rows, ["NAME", "ID", "KEYS", "CREATED"])
    if verb == "key.create":
        return (
            f"access key id:     {data['access_key_id']}\n"
            f"secret access key: {data['secret']}\n"
            "(the secret is shown only now; store it safely)"
        )
    if verb == "key.list":
        rows = [
            [k["access_key_id"], k["user_name"], k.get("status", ""), _when(k.get("created", 0))]
            for k in data["keys"]
        ]
        return _table(rows, ["ACCESS KEY ID", "USER", "STATUS", "CREATED"])
    if verb in ("user.delete", "key.revoke"):
        return "done"
    if verb == "reload":
        return f"reloaded (generation {data['generation']})"
    if verb == "gc.run":
        mode = " (dry run: nothing deleted)" if data.get("dry_run") else ""
        return (
            f"gc: examined {data.get('examined', 0)} orphans, "
            f"deleted {data.get('deleted', 0)} blobs, "
            f"freed {data.get('freed_bytes', 0)} bytes, removed {data.get('temp_removed', 0)} temp "
            f"files in {data.get('duration', 0):.3f}s{mode}"
        )
    if verb == "scrub.run":
        lines = [
            f"scrub: checked {data.get('checked', 0)} blobs ({data.get('bytes_checked', 0)} bytes) "
            f"in {data.get('duration', 0):.3f}s",
            f"corrupt (quarantined): {len(data.get('corrupt', []))}; "
            f"missing: {len(data.get('missing', []))}; "
            f"objects marked: {data.get('objects_marked', 0)}",
        ]
        lines += [f"  corrupt {sha}" for sha in data.get("corrupt", [])]
        lines += [f"  missing {sha}" for sha in data.get("missing", [])]
        return "\n".join(lines)
    if verb == "migrate.status":
        rows = [
            [str(m["version"]), m["name"], _when(m["applied_at"]) if m["applied_at"] else "pending"]
            for m in data["migrations"]
        ]
        return f"database driver: {data['driver']}\n" + _table(rows, ["VERSION", "NAME", "APPLIED"])
    return repr(data)
