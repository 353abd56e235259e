"""Control verbs answered by the meta process: users, keys, GC and scrub."""

from __future__ import annotations

from protocol.base import Done, Message
from protocol.channel import connect_unix
from protocol.errors import RemoteError
from protocol.meta import (
    AccessKeyInfo,
    CreateKey,
    CreateUser,
    DeleteUser,
    GCReport,
    GetMigrations,
    KeyList,
    ListKeys,
    ListUsers,
    MigrationList,
    RevokeKey,
    RunGC,
    RunScrub,
    ScrubReport,
    UserInfo,
    UserList,
)


class UnknownVerb(RemoteError):
    code = "UnknownVerb"


def _required(args: dict[str, str], name: str) -> str:
    value = args.get(name, "").strip()
    if not value:
        raise UnknownVerb(f"missing argument: {name}")
    return value


def _flag(args: dict[str, str], name: str) -> bool | None:
    if name not in args:
        return None
    return args[name].lower() in ("1", "true", "yes")


def build(verb: str, args: dict[str, str]) -> tuple[Message, type[Message]]:
    match verb:
        case "user.create":
            return CreateUser(name=_required(args, "name")), UserInfo
        case "user.list":
            return ListUsers(), UserList
        case "user.delete":
            return DeleteUser(name=_required(args, "name")), Done
        case "key.create":
            return CreateKey(user=_required(args, "user")), AccessKeyInfo
        case "key.list":
            return ListKeys(user=args.get("user") or None), KeyList
        case "key.revoke":
            return RevokeKey(access_key_id=_required(args, "access_key_id")), Done
        case "gc.run":
            grace = args.get("grace_period")
            return RunGC(
                grace_period=float(grace) if grace is not None else None,
                dry_run=_flag(args, "dry_run"),
            ), GCReport
        case "scrub.run":
            return RunScrub(), ScrubReport
        case "migrate.status":
            return GetMigrations(), MigrationList
    raise UnknownVerb(f"unknown verb {verb!r}")


async def meta_verb(meta_socket: str, verb: str, args: dict[str, str]) -> Message:
    request, expected = build(verb, args)
    chan = await connect_unix(meta_socket)
    try:
        return await chan.request(request, expected)
    finally:
        await chan.aclose()
