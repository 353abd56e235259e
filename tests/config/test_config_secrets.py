"""Secrets: read from *_file keys, checked like inline values, and never shown anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alexanderd.config import ConfigError, load_config
from tests.config.cfg_helpers import (
    DB_PASSWORD,
    MASTER_KEY,
    REDIS_PASSWORD,
    SSE_KEY,
    Parse,
    dump,
    merged,
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_secret_can_come_from_a_file(parse: Parse, tmp_path: Path) -> None:
    files = {
        "master.key": MASTER_KEY + "\n",
        "sse.key": f"  {SSE_KEY}\r\n",
        "pg.pw": DB_PASSWORD + "\n\n",
        "redis.pw": REDIS_PASSWORD,
    }
    for name, text in files.items():
        write(tmp_path / name, text)
    config = parse(
        {
            "auth": {
                "master_key": None,
                "master_key_file": str(tmp_path / "master.key"),
                "sse_master_key_file": str(tmp_path / "sse.key"),
            },
            "database": {"password_file": str(tmp_path / "pg.pw")},
            "redis": {"password_file": str(tmp_path / "redis.pw")},
        }
    )
    assert config.auth.master_key == MASTER_KEY
    assert config.auth.sse_master_key == SSE_KEY
    assert config.database.password == DB_PASSWORD
    assert config.redis.password == REDIS_PASSWORD
    assert config.auth.master_key_file == str(tmp_path / "master.key")


def test_relative_secret_files_resolve_against_the_config_directory(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    write(tmp_path / "secrets" / "master.key", MASTER_KEY)
    doc = merged({"auth": {"master_key": None, "master_key_file": "secrets/master.key"}})
    config_file = write(tmp_path / "alexanderd.yaml", dump(doc))
    config = load_config(config_file, env={})
    assert config.auth.master_key == MASTER_KEY
    assert config.auth.master_key_file == str(tmp_path / "secrets" / "master.key")


def test_secret_file_from_an_override(parse: Parse, tmp_path: Path) -> None:
    key_file = write(tmp_path / "k", MASTER_KEY)
    env = {"ALEXANDER_AUTH_MASTER_KEY_FILE": str(key_file)}
    assert parse({"auth": {"master_key": None}}, env=env).auth.master_key == MASTER_KEY


def test_secret_file_path_may_use_interpolation(parse: Parse, tmp_path: Path) -> None:
    write(tmp_path / "master.key", MASTER_KEY)
    doc = {"auth": {"master_key": None, "master_key_file": "${CREDENTIALS_DIRECTORY}/master.key"}}
    config = parse(doc, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert config.auth.master_key == MASTER_KEY


def problems_of(parse: Parse, doc: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(doc, env=env)
    return caught.value.problems


def test_a_secret_and_its_file_together_is_an_error(parse: Parse, tmp_path: Path) -> None:
    write(tmp_path / "k", MASTER_KEY)
    write(tmp_path / "p", DB_PASSWORD)
    doc = {
        "auth": {"master_key_file": str(tmp_path / "k")},
        "database": {"password": "inline", "password_file": str(tmp_path / "p")},
    }
    assert problems_of(parse, doc) == [
        "auth.master_key: both auth.master_key and auth.master_key_file are set; "
        "give only one of them",
        "database.password: both database.password and database.password_file are set; "
        "give only one of them",
    ]


def test_override_of_a_secret_conflicts_with_its_file(parse: Parse, tmp_path: Path) -> None:
    write(tmp_path / "k", MASTER_KEY)
    doc = {"auth": {"master_key": None, "master_key_file": str(tmp_path / "k")}}
    (problem,) = problems_of(parse, doc, env={"ALEXANDER_AUTH_MASTER_KEY": MASTER_KEY})
    assert problem.startswith("auth.master_key (from ALEXANDER_AUTH_MASTER_KEY): both")
    assert MASTER_KEY not in problem


def test_unreadable_and_empty_secret_files(parse: Parse, tmp_path: Path) -> None:
    write(tmp_path / "empty", " \n")
    doc = {
        "auth": {"master_key": None, "master_key_file": str(tmp_path / "absent")},
        "database": {"password_file": str(tmp_path / "empty")},
        "redis": {"password_file": str(tmp_path)},  # a directory
    }
    assert problems_of(parse, doc) == [
        f"auth.master_key_file: cannot read {tmp_path / 'absent'}: No such file or directory",
        f"database.password_file: {tmp_path / 'empty'} is empty",
        f"redis.password_file: cannot read {tmp_path}: Is a directory",
    ]


def test_a_key_read_from_a_file_is_validated_like_an_inline_one(
    parse: Parse, tmp_path: Path
) -> None:
    bad_key = "not-hex-" + MASTER_KEY[8:]
    write(tmp_path / "k", bad_key)
    doc = {"auth": {"master_key": None, "master_key_file": str(tmp_path / "k")}}
    (problem,) = problems_of(parse, doc)
    assert problem.startswith(
        "auth.master_key (read from auth.master_key_file): must be exactly 64 hex characters"
    )
    assert bad_key not in problem


def _failing_configs(tmp_path: Path) -> list[tuple[dict[str, object], dict[str, str]]]:
    """Configs that fail in every way a secret could be echoed."""
    bad_master = MASTER_KEY[:-2] + "zz"
    write(tmp_path / "bad.key", bad_master)
    return [
        ({"auth": {"master_key": bad_master}}, {}),
        ({"auth": {"master_key": MASTER_KEY[:40]}}, {}),
        ({"auth": {"sse_master_key": SSE_KEY + "00"}}, {}),
        ({"auth": {"master_key": None, "master_key_file": str(tmp_path / "bad.key")}}, {}),
        ({"auth": {"master_key": "${" + MASTER_KEY + "}"}}, {}),
        ({"auth": {"master_key": "${" + MASTER_KEY.upper() + "}"}}, {}),
        ({"auth": {"master_key": "${9" + MASTER_KEY + "}"}}, {}),
        ({"server": {"port": 70000}}, {"ALEXANDER_AUTH_MASTER_KEY": bad_master}),
        ({"database": {"password": 12345678}}, {}),
        ({"database": {"password": [DB_PASSWORD]}}, {}),
        ({"redis": {"password": {"v": REDIS_PASSWORD}}}, {}),
        ({"database": {"password": DB_PASSWORD, "password_file": str(tmp_path / "bad.key")}}, {}),
        ({"auth": {"master_key": MASTER_KEY, "master_key_file": str(tmp_path / "bad.key")}}, {}),
    ]


def test_secrets_never_appear_in_errors(parse: Parse, tmp_path: Path) -> None:
    secrets = [MASTER_KEY, MASTER_KEY[:40], MASTER_KEY[:-2] + "zz", SSE_KEY, DB_PASSWORD]
    secrets += [REDIS_PASSWORD, "12345678", MASTER_KEY.upper()]
    for doc, env in _failing_configs(tmp_path):
        with pytest.raises(ConfigError) as caught:
            parse(doc, env=env)
        shown = str(caught.value) + repr(caught.value) + "\n".join(caught.value.problems)
        for secret in secrets:
            assert secret not in shown, (doc, shown)


def test_yaml_syntax_errors_do_not_quote_a_secret(parse: Parse) -> None:
    text = f'auth:\n  master_key: "{MASTER_KEY}\n'  # unterminated quote on the secret's line
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert MASTER_KEY not in str(caught.value)


def test_secrets_never_appear_in_reprs(parse: Parse, tmp_path: Path) -> None:
    config = parse(
        {
            "auth": {"sse_master_key": SSE_KEY},
            "database": {"password": DB_PASSWORD},
            "redis": {"password": REDIS_PASSWORD},
        }
    )
    for text in (repr(config), str(config), repr(config.auth), repr(config.database)):
        for secret in (MASTER_KEY, SSE_KEY, DB_PASSWORD, REDIS_PASSWORD):
            assert secret not in text
    assert "master_key=<hidden>" in repr(config.auth)
    assert "password=<hidden>" in repr(config.redis)
    rich = dict(config.auth.__rich_repr__())
    assert repr(rich["master_key"]) == "<hidden>"
    # Non-secret fields are shown as usual; an empty secret is shown as empty.
    assert "pool_size=10" in repr(config.database)
    assert "password=''" in repr(parse({}).database)
    # The values themselves are intact for the code that needs them.
    assert config.auth.master_key == MASTER_KEY


def test_secret_files_are_read_with_the_process_permissions(parse: Parse, tmp_path: Path) -> None:
    key_file = write(tmp_path / "k", MASTER_KEY)
    os.chmod(key_file, 0o600)
    doc = {"auth": {"master_key": None, "master_key_file": str(key_file)}}
    assert parse(doc).auth.master_key == MASTER_KEY
