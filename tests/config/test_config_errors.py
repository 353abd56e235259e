"""Every kind of config mistake is reported, with its dotted key, and all of them at once."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from alexanderd.config import ConfigError, check_config, load_config, parse_config
from tests.config.cfg_helpers import MASTER_KEY, Parse, dump, merged


def problems_of(
    parse: Parse, doc: dict[str, Any] | str, env: dict[str, str] | None = None
) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(doc, env=env)
    assert caught.value.problems, "a ConfigError must carry at least one problem"
    return caught.value.problems


def test_unknown_key_suggests_the_close_one(parse: Parse) -> None:
    assert problems_of(parse, {"server": {"prot": 9000}}) == [
        "server.prot: unknown key (did you mean port?)"
    ]


def test_unknown_section_suggests_the_close_one(parse: Parse) -> None:
    assert problems_of(parse, {"metircs": {}}) == ["metircs: unknown key (did you mean metrics?)"]


def test_right_key_in_the_wrong_section_points_at_the_right_place(parse: Parse) -> None:
    assert problems_of(parse, {"server": {"fsync": False}}) == [
        "server.fsync: unknown key here (did you mean storage.fsync?)"
    ]


def test_unknown_key_without_a_close_match_lists_the_known_ones(parse: Parse) -> None:
    (problem,) = problems_of(parse, {"scrub": {"zzz": 1}})
    assert problem == "scrub.zzz: unknown key (known here: enabled, interval)"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"server": {"port": "8080"}}, "server.port: expected an integer, got '8080'"),
        ({"server": {"port": 80.5}}, "server.port: expected an integer, got 80.5"),
        ({"server": {"port": True}}, "server.port: expected an integer, got True"),
        ({"server": {"host": 10}}, "server.host: expected a string, got 10 (quote it)"),
        ({"gc": {"enabled": "yes"}}, "gc.enabled: expected true or false, got 'yes'"),
        ({"server": {"trusted_proxies": "10.0.0.1"}}, "server.trusted_proxies: expected a list"),
        ({"server": {"port": None}}, "server.port: expected an integer, got null"),
        ({"server": 5}, "server: expected a mapping of settings, got an integer"),
        (
            {"rate_limit": {"requests_per_second": "fast"}},
            "rate_limit.requests_per_second: expected a number, got 'fast'",
        ),
    ],
)
def test_wrong_types(parse: Parse, doc: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of(parse, doc)
    assert problem.startswith(expected)


def test_yaml_1_1_booleans_are_plain_strings(parse: Parse) -> None:
    # `off` is a string, so it is a fine synchronous_mode but not a boolean.
    config = parse("database:\n  synchronous_mode: off\n" + dump(merged({})))
    assert config.database.synchronous_mode == "OFF"
    (problem,) = problems_of(
        parse,
        "storage:\n  fsync: no\n  filesystem: {base_path: /d}\n"
        + dump({"auth": {"master_key": MASTER_KEY}}),
    )
    assert problem == "storage.fsync: expected true or false, got 'no'"


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"server": {"max_object_size": "5M"}},
            "server.max_object_size: unknown size unit 'M' in '5M' (ambiguous: write 5MiB",
        ),
        ({"storage": {"inline_threshold": "lots"}}, "storage.inline_threshold: expected a size"),
        ({"server": {"max_object_size": 0}}, "server.max_object_size: must be at least 1 (got 0)"),
        ({"gc": {"interval": "5 minutes"}}, "gc.interval: expected a duration like"),
        ({"gc": {"interval": "0s"}}, "gc.interval: must be greater than 0s (got 0s)"),
        ({"scrub": {"interval": "2w"}}, "scrub.interval: unknown duration unit 'w'"),
        ({"database": {"busy_timeout": "soon"}}, "database.busy_timeout: expected a duration"),
    ],
)
def test_bad_sizes_and_durations(parse: Parse, doc: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of(parse, doc)
    assert problem.startswith(expected)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"server": {"port": 70000}}, "server.port: must be 0..65535 (got 70000)"),
        ({"server": {"port": -1}}, "server.port: must be 0..65535 (got -1)"),
        ({"metrics": {"port": 65536}}, "metrics.port: must be 0..65535 (got 65536)"),
        ({"database": {"port": 0}}, "database.port: must be 1..65535 (got 0)"),
        ({"redis": {"port": 99999}}, "redis.port: must be 1..65535 (got 99999)"),
        ({"redis": {"db": 16}}, "redis.db: must be 0..15 (got 16)"),
        ({"server": {"fronts": 0}}, "server.fronts: must be 1..64 (got 0)"),
        ({"server": {"blob_workers": 257}}, "server.blob_workers: must be 1..256 (got 257)"),
        ({"gc": {"batch_size": 100001}}, "gc.batch_size: must be 1..100000 (got 100001)"),
        ({"rate_limit": {"burst_size": 0}}, "rate_limit.burst_size: must be at least 1 (got 0)"),
    ],
)
def test_out_of_range_numbers(parse: Parse, doc: dict[str, Any], expected: str) -> None:
    assert problems_of(parse, doc) == [expected]


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"database": {"driver": "postgresql"}},
            "database.driver: must be one of postgres, sqlite (got 'postgresql'); "
            "did you mean postgres?",
        ),
        ({"logging": {"format": "xml"}}, "logging.format: must be one of"),
        ({"server": {"runtime": "curio"}}, "server.runtime: must be one of"),
        ({"metrics": {"path": "metrics"}}, "metrics.path: must start with / (got 'metrics')"),
        ({"server": {"domain": "https://s3.example.com"}}, "server.domain: must be a DNS name"),
        ({"server": {"region": "US East"}}, "server.region: must be lowercase letters"),
        ({"server": {"host": ""}}, "server.host: must not be empty"),
    ],
)
def test_bad_choices_and_patterns(parse: Parse, doc: dict[str, Any], expected: str) -> None:
    (problem,) = problems_of(parse, doc)
    assert problem.startswith(expected)


def test_case_insensitive_choices_are_normalised(parse: Parse) -> None:
    config = parse(
        {
            "database": {"journal_mode": "wal", "synchronous_mode": "normal"},
            "logging": {"level": "WARNING"},
        }
    )
    assert config.database.journal_mode == "WAL"
    assert config.database.synchronous_mode == "NORMAL"
    assert config.logging.level == "warning"


def test_missing_master_key(parse: Parse) -> None:
    assert problems_of(parse, {"auth": {"master_key": None}}) == [
        "auth.master_key: is required (set it, or auth.master_key_file, or a ${VAR} for it)"
    ]


@pytest.mark.parametrize("bad", [MASTER_KEY[:-1], MASTER_KEY + "0", "g" * 64, "", " " * 64])
def test_malformed_master_key(parse: Parse, bad: str) -> None:
    (problem,) = problems_of(parse, {"auth": {"master_key": bad}})
    assert problem.startswith("auth.master_key: ")
    assert "must be exactly 64 hex characters (32 bytes)" in problem


def test_malformed_sse_master_key(parse: Parse) -> None:
    (problem,) = problems_of(parse, {"auth": {"sse_master_key": "abc"}})
    assert problem.startswith("auth.sse_master_key: must be exactly 64 hex characters")


def test_missing_base_path_and_missing_sections(parse: Parse) -> None:
    assert problems_of(parse, "") == [
        "auth.master_key: is required (set it, or auth.master_key_file, or a ${VAR} for it)",
        "storage.filesystem.base_path: is required",
    ]


def test_top_level_must_be_a_mapping(parse: Parse) -> None:
    assert problems_of(parse, "- server\n- database\n") == [
        "(top level): expected a mapping of sections, got a list"
    ]


def test_yaml_syntax_error_names_the_line_without_quoting_it(parse: Parse) -> None:
    text = f"auth:\n  master_key: {MASTER_KEY}\n  oops: [unclosed\n"
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.problems[0].startswith("(syntax) line ")
    assert MASTER_KEY not in str(caught.value)


def test_duplicate_keys_are_reported(parse: Parse) -> None:
    text = "server:\n  port: 1\n  port: 2\n" + dump(merged({}))
    assert problems_of(parse, text) == [
        "server.port: duplicate key on line 3 (only one may be given)"
    ]


def test_heartbeat_timeout_must_exceed_interval(parse: Parse) -> None:
    doc = {"server": {"heartbeat_interval": "2s", "heartbeat_timeout": "2s"}}
    assert problems_of(parse, doc) == [
        "server.heartbeat_timeout: must be longer than server.heartbeat_interval (2s) (got 2s)"
    ]


def test_trusted_proxies_must_be_ips_or_networks(parse: Parse) -> None:
    doc = {"server": {"trusted_proxies": ["10.0.0.0/8", "::1", "10.0.0.1/8", "proxy.local", 7]}}
    problems = problems_of(parse, doc)
    assert [p.split(":")[0] for p in problems] == [
        "server.trusted_proxies[2]",
        "server.trusted_proxies[3]",
        "server.trusted_proxies[4]",
    ]
    assert "has host bits set" in problems[0]
    assert parse({"server": {"trusted_proxies": ["10.0.0.0/8", "::1"]}}).server.trusted_proxies == [
        "10.0.0.0/8",
        "::1",
    ]


def test_tls_needs_readable_files_when_enabled(parse: Parse, tmp_path: Path) -> None:
    assert problems_of(parse, {"server": {"tls": {"enabled": True}}}) == [
        "server.tls.cert_file: is required when server.tls.enabled is true",
        "server.tls.key_file: is required when server.tls.enabled is true",
    ]
    doc = {"server": {"tls": {"enabled": True, "cert_file": "missing.pem", "key_file": "."}}}
    assert problems_of(parse, doc) == [
        f"server.tls.cert_file: {tmp_path / 'missing.pem'} does not exist",
        f"server.tls.key_file: {tmp_path} is not a regular file",
    ]
    # Disabled TLS ignores the file keys' existence (they may be prepared ahead of time).
    assert parse({"server": {"tls": {"cert_file": "missing.pem"}}}).server.tls.enabled is False


def test_privilege_drop_targets_must_exist(parse: Parse) -> None:
    me = pwd.getpwuid(os.getuid()).pw_name
    my_group = grp.getgrgid(os.getgid()).gr_name
    config = parse({"server": {"user": me, "group": my_group}})
    assert (config.server.user, config.server.group) == (me, my_group)
    assert parse({"server": {"user": str(os.getuid())}}).server.user == str(os.getuid())
    doc = {"server": {"user": "no-such-user-alexanderd", "group": "no-such-group-alexanderd"}}
    assert problems_of(parse, doc) == [
        "server.group: no group 'no-such-group-alexanderd' on this host",
        "server.user: no user 'no-such-user-alexanderd' on this host",
    ]


def test_metrics_port_must_not_clash_with_the_s3_port(parse: Parse) -> None:
    doc = {"server": {"port": 9000}, "metrics": {"port": 9000}}
    assert problems_of(parse, doc) == [
        "metrics.port: is the same as server.port (9000) on an overlapping host"
    ]
    assert parse({**doc, "metrics": {"port": 9000, "enabled": False}}).metrics.port == 9000


def test_all_problems_are_reported_at_once(parse: Parse) -> None:
    doc = {
        "server": {"prot": 1, "port": 70000, "max_object_size": "5M", "tls": {"enabled": "y"}},
        "database": {"driver": "mysql", "busy_timeout": -1},
        "storage": {"filesystem": {"base_path": None}},
        "auth": {"master_key": "short"},
        "gc": {"interval": "often", "batch_size": 0},
        "logging": {"level": "loud"},
        "extra": True,
    }
    problems = problems_of(parse, doc)
    keys = [p.split(":")[0] for p in problems]
    assert keys == [
        "auth.master_key",
        "database.busy_timeout",
        "database.driver",
        "extra",
        "gc.batch_size",
        "gc.interval",
        "logging.level",
        "server.max_object_size",
        "server.port",
        "server.prot",
        "server.tls.enabled",
        "storage.filesystem.base_path",
    ]


def test_config_error_renders_every_problem(parse: Parse) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"server": {"port": 70000}, "gc": {"batch_size": 0}})
    text = str(caught.value)
    assert text.startswith("invalid configuration (2 problems):")
    assert "  - gc.batch_size: must be 1..100000 (got 0)" in text
    assert "  - server.port: must be 0..65535 (got 70000)" in text


def test_load_config_names_the_file_and_check_config_lists_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(dump(merged({"server": {"port": 70000}})))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(path) in str(caught.value)
    assert check_config(path, env={}) == ["server.port: must be 0..65535 (got 70000)"]
    good = tmp_path / "good.yaml"
    good.write_text(dump(merged({})))
    assert check_config(good, env={}) == []


def test_unreadable_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"
    assert check_config(missing, env={}) == [
        f"(file) cannot read {missing}: No such file or directory"
    ]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert check_config(binary, env={}) == ["(file) is not UTF-8 text"]


def test_parse_config_without_base_dir_uses_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = parse_config(dump(merged({"storage": {"filesystem": {"base_path": "data"}}})), env={})
    assert config.storage.filesystem.base_path == str(tmp_path / "data")
