"""The shape of `Config`: names, defaults and types others code against, strictness, paths."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from alexanderd.config import Config, load_config
from alexanderd.config.spec import KeySpec, Section, key_specs
from tests.config.cfg_helpers import MASTER_KEY, Parse, dump, merged

# The brief's defaults, written out independently of schema.py.
EXPECTED_DEFAULTS = {
    "server.host": "127.0.0.1",
    "server.port": 8080,
    "server.domain": None,
    "server.region": "us-east-1",
    "server.user": None,
    "server.group": None,
    "server.runtime_dir": "/run/alexanderd",
    "server.runtime": "asyncio",
    "server.fronts": 1,
    "server.blob_workers": 2,
    "server.shutdown_timeout": 30.0,
    "server.heartbeat_interval": 1.0,
    "server.heartbeat_timeout": 10.0,
    "server.max_object_size": 5 * 1024**4,
    "server.trusted_proxies": [],
    "server.tls.enabled": False,
    "server.tls.cert_file": None,
    "server.tls.key_file": None,
    "database.driver": "sqlite",
    "database.journal_mode": "WAL",
    "database.busy_timeout": 5000,
    "database.cache_size": -8000,
    "database.synchronous_mode": "FULL",
    "database.host": "127.0.0.1",
    "database.port": 5432,
    "database.name": "alexander",
    "database.user": "alexander",
    "database.password": "",
    "database.password_file": None,
    "database.sslmode": "prefer",
    "database.pool_size": 10,
    "redis.enabled": False,
    "redis.host": "127.0.0.1",
    "redis.port": 6379,
    "redis.password": "",
    "redis.password_file": None,
    "redis.db": 0,
    "storage.fsync": True,
    "storage.inline_threshold": 0,
    "auth.master_key_file": None,
    "auth.sse_master_key": None,
    "auth.sse_master_key_file": None,
    "auth.key_cache_ttl": 5.0,
    "auth.allow_anonymous": True,
    "metrics.enabled": True,
    "metrics.host": "127.0.0.1",
    "metrics.port": 9091,
    "metrics.path": "/metrics",
    "rate_limit.enabled": False,
    "rate_limit.requests_per_second": 1000.0,
    "rate_limit.burst_size": 2000,
    "gc.enabled": True,
    "gc.interval": 3600.0,
    "gc.grace_period": 86400.0,
    "gc.batch_size": 1000,
    "gc.dry_run": False,
    "scrub.enabled": False,
    "scrub.interval": 7 * 86400.0,
    "multipart.expiration": 7 * 86400.0,
    "logging.level": "info",
    "logging.format": "json",
    "logging.file": None,
}


def lookup(config: Config, path: str) -> object:
    value: object = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_defaults_of_a_minimal_config(parse: Parse) -> None:
    config = parse({})
    for path, expected in EXPECTED_DEFAULTS.items():
        actual = lookup(config, path)
        assert actual == expected, path
        assert type(actual) is type(expected), path
    assert config.storage.filesystem.base_path == "/srv/alexanderd"
    assert config.auth.master_key == MASTER_KEY
    assert config.database.path == "/srv/alexanderd/meta.db"


def test_every_defined_key_is_known_to_this_test() -> None:
    # A key added to schema.py must be added to the brief's defaults above (or be required).
    def paths(specs: tuple[KeySpec, ...]) -> set[str]:
        out: set[str] = set()
        for spec in specs:
            out |= paths(spec.children) if spec.section is not None else {spec.path}
        return out

    required = {"storage.filesystem.base_path", "auth.master_key", "database.path"}
    assert paths(key_specs(Config)) == set(EXPECTED_DEFAULTS) | required


def _sections() -> list[type[msgspec.Struct]]:
    found: list[type[msgspec.Struct]] = [Config]

    def visit(specs: tuple[KeySpec, ...]) -> None:
        for spec in specs:
            if spec.section is not None:
                found.append(spec.section)
                visit(spec.children)

    visit(key_specs(Config))
    return found


@pytest.mark.parametrize("section", _sections(), ids=lambda cls: cls.__name__)
def test_every_section_is_frozen_and_strict(section: type[msgspec.Struct]) -> None:
    assert issubclass(section, Section)
    assert section.__struct_config__.frozen is True
    assert section.__struct_config__.forbid_unknown_fields is True


def test_config_is_immutable(parse: Parse) -> None:
    config = parse({})
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]


def test_msgspec_itself_rejects_unknown_fields() -> None:
    doc = merged({"server": {"bogus": 1}})
    with pytest.raises(msgspec.ValidationError, match="bogus"):
        msgspec.convert(doc, Config)


def test_relative_paths_resolve_against_the_config_file_directory(tmp_path: Path) -> None:
    doc = merged(
        {
            "storage": {"filesystem": {"base_path": "data"}},
            "server": {"runtime_dir": "./run", "tls": {"cert_file": "../tls/cert.pem"}},
            "logging": {"file": "logs/alexanderd.log"},
        }
    )
    (tmp_path / "etc").mkdir()
    config = load_config(
        _write(tmp_path / "etc" / "alexanderd.yaml", dump(doc)), env={"UNUSED": "x"}
    )
    etc = tmp_path / "etc"
    assert config.storage.filesystem.base_path == str(etc / "data")
    assert config.database.path == str(etc / "data" / "meta.db")
    assert config.server.runtime_dir == str(etc / "run")
    assert config.server.tls.cert_file == str(tmp_path / "tls" / "cert.pem")
    assert config.logging.file == str(etc / "logs" / "alexanderd.log")


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_sqlite_path_is_kept_when_given_and_unused_by_postgres(parse: Parse) -> None:
    assert parse({"database": {"path": "/db/meta.db"}}).database.path == "/db/meta.db"
    assert parse({"database": {"path": ":memory:"}}).database.path == ":memory:"
    assert parse({"database": {"driver": "postgres"}}).database.path == ""


def test_units_are_converted_at_load(parse: Parse) -> None:
    config = parse(
        {
            "server": {"max_object_size": "5GiB", "shutdown_timeout": "500ms"},
            "storage": {"inline_threshold": "64KB"},
            "gc": {"interval": 90, "grace_period": "1h30m"},
            "database": {"busy_timeout": "10s"},
        }
    )
    assert config.server.max_object_size == 5 * 1024**3
    assert config.server.shutdown_timeout == 0.5
    assert config.storage.inline_threshold == 64_000
    assert config.gc.interval == 90.0
    assert isinstance(config.gc.interval, float)
    assert config.gc.grace_period == 5400.0
    assert config.database.busy_timeout == 10_000


def test_empty_sections_mean_defaults(parse: Parse) -> None:
    text = "redis:\ngc:\n" + dump(merged({}))
    config = parse(text)
    assert config.redis.enabled is False
    assert config.gc.interval == 3600.0


def test_config_encodes_for_boot_messages(parse: Parse) -> None:
    # Children get slices of config over msgspec channels; the Structs encode as-is.
    config = parse({"server": {"port": 9000}})
    decoded = msgspec.json.decode(msgspec.json.encode(config), type=Config)
    assert decoded == config
