"""The environment's two ways in: ${VAR} interpolation and ALEXANDER_<SECTION>_<KEY> overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from alexanderd.config import ConfigError
from alexanderd.config.overrides import env_name
from alexanderd.config.schema import Config
from alexanderd.config.spec import key_specs, walk_leaves
from tests.config.cfg_helpers import MASTER_KEY, Parse


def problems_of(parse: Parse, doc: object, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(doc, env=env)
    return caught.value.problems


# --- interpolation -------------------------------------------------------------------------


def test_variables_are_replaced_in_any_string(parse: Parse) -> None:
    env = {"KEY": MASTER_KEY, "DATA": "/srv", "SITE": "example.com", "NET": "10.0.0.0/8"}
    config = parse(
        {
            "auth": {"master_key": "${KEY}"},
            "storage": {"filesystem": {"base_path": "${DATA}/alexanderd"}},
            "server": {"domain": "s3.${SITE}", "trusted_proxies": ["${NET}", "127.0.0.1"]},
        },
        env=env,
    )
    assert config.auth.master_key == MASTER_KEY
    assert config.storage.filesystem.base_path == "/srv/alexanderd"
    assert config.server.domain == "s3.example.com"
    assert config.server.trusted_proxies == ["10.0.0.0/8", "127.0.0.1"]


def test_defaults_apply_when_unset_or_empty(parse: Parse) -> None:
    doc = {"server": {"region": "${REGION:-eu-west-1}", "host": "${HOST:-0.0.0.0}"}}
    config = parse(doc, env={"HOST": ""})
    assert config.server.region == "eu-west-1"
    assert config.server.host == "0.0.0.0"
    assert parse(doc, env={"REGION": "ap-south-1"}).server.region == "ap-south-1"


def test_set_but_empty_without_default_is_used_as_is(parse: Parse) -> None:
    assert parse({"database": {"password": "${PW}"}}, env={"PW": ""}).database.password == ""


def test_unset_variable_is_an_error_naming_the_key(parse: Parse) -> None:
    assert problems_of(parse, {"database": {"password": "${PG_PASSWORD}"}}, env={}) == [
        "database.password: environment variable PG_PASSWORD is not set (and no default given)"
    ]


def test_every_unset_variable_is_reported(parse: Parse) -> None:
    doc = {"server": {"host": "${A}", "region": "${B}"}, "metrics": {"host": "${C}"}}
    assert [p.split(":")[0] for p in problems_of(parse, doc, env={})] == [
        "metrics.host",
        "server.host",
        "server.region",
    ]


def test_dollar_dollar_is_a_literal(parse: Parse) -> None:
    config = parse({"database": {"password": "pa$${NOT_A_VAR}$$x"}}, env={})
    assert config.database.password == "pa${NOT_A_VAR}$$x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${UNCLOSED", "unterminated ${"),
        ("${1BAD}", "bad ${...} reference"),
        ("${A:?oops}", "bad ${...} reference"),
    ],
)
def test_malformed_references(parse: Parse, value: str, expected: str) -> None:
    (problem,) = problems_of(parse, {"server": {"region": value}}, env={"A": "x"})
    assert problem.startswith("server.region: ")
    assert expected in problem


def test_interpolated_text_is_coerced_but_literal_text_is_not(parse: Parse) -> None:
    env = {"PORT": "9000", "FSYNC": "false", "TTL": "1m"}
    config = parse(
        {
            "server": {"port": "${PORT}"},
            "storage": {"fsync": "${FSYNC}"},
            "auth": {"key_cache_ttl": "${TTL}"},
        },
        env=env,
    )
    assert config.server.port == 9000
    assert config.storage.fsync is False
    assert config.auth.key_cache_ttl == 60.0
    # Written in the file as a string, "9000" stays a (wrong) string: the file is strict.
    assert problems_of(parse, {"server": {"port": "9000"}}, env={}) == [
        "server.port: expected an integer, got '9000'"
    ]


def test_interpolating_an_optional_key_to_empty_unsets_it(parse: Parse) -> None:
    assert parse({"server": {"domain": "${DOMAIN:-}"}}, env={}).server.domain is None


# --- overrides -----------------------------------------------------------------------------


def test_overrides_from_the_brief(parse: Parse) -> None:
    env = {
        "ALEXANDER_SERVER_PORT": "9000",
        "ALEXANDER_DATABASE_DRIVER": "postgres",
        "ALEXANDER_GC_INTERVAL": "5m",
        "ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH": "/mnt/blobs",
    }
    config = parse({"server": {"port": 8080}, "gc": {"interval": "1h"}}, env=env)
    assert config.server.port == 9000
    assert config.database.driver == "postgres"
    assert config.gc.interval == 300.0
    assert config.storage.filesystem.base_path == "/mnt/blobs"


def test_overrides_coerce_every_kind_of_value(parse: Parse) -> None:
    env = {
        "ALEXANDER_RATE_LIMIT_ENABLED": "true",
        "ALEXANDER_RATE_LIMIT_REQUESTS_PER_SECOND": "12.5",
        "ALEXANDER_GC_DRY_RUN": "yes",
        "ALEXANDER_STORAGE_INLINE_THRESHOLD": "64KiB",
        "ALEXANDER_DATABASE_BUSY_TIMEOUT": "2s",
        "ALEXANDER_DATABASE_JOURNAL_MODE": "truncate",
        "ALEXANDER_SERVER_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.1",
        "ALEXANDER_SERVER_TLS_ENABLED": "0",
        "ALEXANDER_LOGGING_FILE": "",
    }
    config = parse({"logging": {"file": "/var/log/a.log"}}, env=env)
    assert config.rate_limit.enabled is True
    assert config.rate_limit.requests_per_second == 12.5
    assert config.gc.dry_run is True
    assert config.storage.inline_threshold == 65536
    assert config.database.busy_timeout == 2000
    assert config.database.journal_mode == "TRUNCATE"
    assert config.server.trusted_proxies == ["10.0.0.0/8", "192.168.0.1"]
    assert config.server.tls.enabled is False
    assert config.logging.file is None


def test_bad_override_values_name_the_variable(parse: Parse) -> None:
    env = {"ALEXANDER_SERVER_PORT": "http", "ALEXANDER_GC_ENABLED": "maybe"}
    assert problems_of(parse, {}, env=env) == [
        "gc.enabled (from ALEXANDER_GC_ENABLED): expected true or false, got 'maybe'",
        "server.port (from ALEXANDER_SERVER_PORT): expected an integer, got 'http'",
    ]


def test_override_within_a_known_section_must_name_a_key(parse: Parse) -> None:
    assert problems_of(parse, {}, env={"ALEXANDER_SERVER_PROT": "1"}) == [
        "ALEXANDER_SERVER_PROT: not a config override (did you mean ALEXANDER_SERVER_PORT?)"
    ]
    assert problems_of(parse, {}, env={"ALEXANDER_GC_ZZZ": "1"}) == [
        "ALEXANDER_GC_ZZZ: not a config override"
    ]


def test_other_alexander_variables_are_not_overrides(parse: Parse) -> None:
    # The samples interpolate ALEXANDER_MASTER_KEY; "master" is no section, so it is no override.
    env = {"ALEXANDER_MASTER_KEY": MASTER_KEY, "ALEXANDERD_DEBUG": "1"}
    config = parse({"auth": {"master_key": "${ALEXANDER_MASTER_KEY}"}}, env=env)
    assert config.auth.master_key == MASTER_KEY


def test_override_creates_missing_sections_and_required_keys(parse: Parse) -> None:
    env = {
        "ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH": "/data",
        "ALEXANDER_AUTH_MASTER_KEY": MASTER_KEY,
    }
    config = parse("server:\n  port: 1\n", env=env)
    assert config.storage.filesystem.base_path == "/data"
    assert config.auth.master_key == MASTER_KEY


def test_relative_override_paths_use_the_working_directory(
    parse: Parse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    env = {"ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH": "blobs"}
    config = parse({"server": {"runtime_dir": "run"}}, env=env)
    assert config.storage.filesystem.base_path == str(cwd / "blobs")
    assert config.server.runtime_dir == str(tmp_path / "run")  # from the file: its directory


def test_every_key_has_a_distinct_override_variable() -> None:
    paths = [spec.path for spec in walk_leaves(key_specs(Config))]
    names = [env_name(path) for path in paths]
    assert len(set(names)) == len(names)
    assert env_name("storage.filesystem.base_path") == "ALEXANDER_STORAGE_FILESYSTEM_BASE_PATH"
    assert env_name("rate_limit.burst_size") == "ALEXANDER_RATE_LIMIT_BURST_SIZE"
