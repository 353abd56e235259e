"""The numbered schema migrations shipped with this build, `schema/<engine>/NNNN_name.sql`,
and the rules every engine applies to them: each applied once, in order, recorded in
`schema_migrations`; a database with a migration this build does not know is refused."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources

from workers.meta.store import MigrationStatus

_FILE = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

Migration = tuple[int, str, str]  # (version, name, sql)


def available(engine: str) -> list[Migration]:
    """(version, name, sql) of every migration shipped for `engine`, in order."""
    found: list[Migration] = []
    folder = resources.files("workers.meta").joinpath("schema", engine)
    for entry in folder.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate schema migration numbers in {folder}: {versions}")
    return found


def check_known(applied: Iterable[int], shipped: list[Migration]) -> None:
    """Refuse a database written by a newer build (it has migrations we do not know)."""
    unknown = sorted(set(applied) - {version for version, _, _ in shipped})
    if unknown:
        raise RuntimeError(
            f"the metadata database has schema migrations {unknown} that this build does not"
            " know: it was written by a newer alexanderd; refusing to open it"
        )


def status(applied: dict[int, float], shipped: list[Migration]) -> list[MigrationStatus]:
    return [
        MigrationStatus(version=version, name=name, applied_at=applied.get(version))
        for version, name, _ in shipped
    ]
