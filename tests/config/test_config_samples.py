"""conf/ samples and the deployment guide's snippets must load, and must match the definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alexanderd.config import (
    Config,
    ConfigError,
    check_config,
    load_config,
    parse_config,
    render_sample,
)
from alexanderd.config.__main__ import main as sample_main
from alexanderd.config.sample import SampleKind
from alexanderd.config.spec import key_specs, walk_leaves
from tests.config.cfg_helpers import DB_PASSWORD, MASTER_KEY, REDIS_PASSWORD, Parse, dump, minimal

CONF = Path(__file__).resolve().parents[2] / "conf"
SAMPLE_ENV = {
    "ALEXANDER_MASTER_KEY": MASTER_KEY,
    "POSTGRES_PASSWORD": DB_PASSWORD,
    "REDIS_PASSWORD": REDIS_PASSWORD,
}


def test_single_node_sample_loads() -> None:
    config = load_config(CONF / "alexanderd.yaml", env=SAMPLE_ENV)
    assert config.database.driver == "sqlite"
    assert config.database.journal_mode == "WAL"
    assert config.database.path == "/var/lib/alexanderd/meta.db"
    assert config.redis.enabled is False
    assert config.storage.filesystem.base_path == "/var/lib/alexanderd"
    assert config.storage.fsync is True
    assert config.auth.master_key == MASTER_KEY


def test_distributed_sample_loads() -> None:
    config = load_config(CONF / "distributed.yaml", env=SAMPLE_ENV)
    assert config.database.driver == "postgres"
    assert config.database.password == DB_PASSWORD
    assert config.database.sslmode == "require"
    assert config.redis.enabled is True
    assert config.redis.password == REDIS_PASSWORD
    assert config.server.host == "0.0.0.0"
    assert config.auth.master_key == MASTER_KEY


@pytest.mark.parametrize("name", ["alexanderd.yaml", "distributed.yaml"])
def test_samples_fail_without_their_environment(name: str) -> None:
    problems = check_config(CONF / name, env={})
    assert any("ALEXANDER_MASTER_KEY is not set" in p for p in problems)


@pytest.mark.parametrize(
    ("name", "kind"), [("alexanderd.yaml", "single"), ("distributed.yaml", "distributed")]
)
def test_samples_are_generated_from_the_definition(name: str, kind: SampleKind) -> None:
    # If this fails after changing a schema module: python -m alexanderd.config KIND > conf/NAME
    assert (CONF / name).read_text(encoding="utf-8") == render_sample(kind)


def test_sample_module_prints_a_sample(capsys: pytest.CaptureFixture[str]) -> None:
    assert sample_main(["single"]) == 0
    assert capsys.readouterr().out == render_sample("single")
    assert sample_main(["triple"]) == 2
    assert "usage" in capsys.readouterr().err


def test_unknown_sample_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sample kind"):
        render_sample("triple")  # type: ignore[arg-type]


def _documented_keys(text: str) -> set[str]:
    """Dotted keys a sample shows, set or commented out, following the indentation."""
    leaf_names = {spec.path for spec in walk_leaves(key_specs(Config))}
    found: set[str] = set()
    stack: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^( *)(?:# )?([a-z_]+):(?: |$)", line)
        if match is None:
            continue
        depth = len(match.group(1)) // 2
        stack = [*stack[:depth], match.group(2)]
        path = ".".join(stack)
        if path in leaf_names:
            found.add(path)
    return found


def test_every_key_is_documented_in_a_sample() -> None:
    shown = _documented_keys(render_sample("single")) | _documented_keys(
        render_sample("distributed")
    )
    every = {spec.path for spec in walk_leaves(key_specs(Config))}
    assert every - shown == set()


def test_samples_carry_the_warnings_operators_need() -> None:
    text = render_sample("single")
    assert "Relative paths are resolved against the directory of this file" in text
    assert "power loss" in text  # next to storage.fsync


# The configuration snippets of DEPLOYMENT-GUIDE.md, copied verbatim.
GUIDE_SINGLE_NODE = """\
database:
  driver: sqlite
  path: /var/lib/alexander/alexander.db
  journal_mode: WAL

redis:
  enabled: false
"""
GUIDE_DISTRIBUTED = """\
database:
  driver: postgres
  host: postgres.internal
  port: 5432
  name: alexander
  user: alexander
  password: ${POSTGRES_PASSWORD}
  sslmode: require

redis:
  enabled: true
  host: redis.internal
  port: 6379
  password: ${REDIS_PASSWORD}

storage:
  filesystem:
    base_path: /mnt/shared/alexander
"""
GUIDE_TLS = """\
server:
  tls:
    enabled: true
    cert_file: /etc/alexander/tls.crt
    key_file: /etc/alexander/tls.key
"""
GUIDE_METRICS = """\
metrics:
  enabled: true
  port: 9091
  path: /metrics
"""
GUIDE_SQLITE_TUNING = """\
database:
  journal_mode: WAL
  busy_timeout: 5000
  cache_size: -8000      # 8MB cache
  synchronous_mode: NORMAL
"""
GUIDE_RATE_LIMIT = """\
rate_limit:
  enabled: true
  requests_per_second: 1000
  burst_size: 2000
"""
GUIDE_GC = """\
gc:
  enabled: true
  interval: 1h
  grace_period: 24h
  batch_size: 1000
"""


def _with_required(snippet: str) -> str:
    """The snippet plus the two required keys, added only where the snippet lacks them."""
    text = snippet
    if "storage:" not in snippet:
        text += dump({"storage": minimal()["storage"]})
    return text + dump({"auth": {"master_key": MASTER_KEY}})


def test_guide_single_node_snippet(parse: Parse) -> None:
    config = parse(_with_required(GUIDE_SINGLE_NODE))
    assert config.database.path == "/var/lib/alexander/alexander.db"
    assert config.database.journal_mode == "WAL"
    assert config.redis.enabled is False


def test_guide_distributed_snippet(parse: Parse) -> None:
    env = {"POSTGRES_PASSWORD": DB_PASSWORD, "REDIS_PASSWORD": REDIS_PASSWORD}
    config = parse(_with_required(GUIDE_DISTRIBUTED), env=env)
    assert (config.database.host, config.database.port) == ("postgres.internal", 5432)
    assert (config.database.name, config.database.user) == ("alexander", "alexander")
    assert config.database.password == DB_PASSWORD
    assert config.database.sslmode == "require"
    assert (config.redis.host, config.redis.port) == ("redis.internal", 6379)
    assert config.redis.password == REDIS_PASSWORD
    assert config.storage.filesystem.base_path == "/mnt/shared/alexander"


def test_guide_tls_snippet(tmp_path: Path) -> None:
    # The guide's files do not exist here; every key must still be understood, and with real
    # files in their place the snippet loads.
    text = _with_required(GUIDE_TLS)
    with pytest.raises(ConfigError) as missing:
        parse_config(text, env={})
    assert missing.value.problems == [
        "server.tls.cert_file: /etc/alexander/tls.crt does not exist",
        "server.tls.key_file: /etc/alexander/tls.key does not exist",
    ]
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    text = text.replace("/etc/alexander/tls.crt", str(cert)).replace(
        "/etc/alexander/tls.key", str(key)
    )
    config = parse_config(text, env={})
    assert config.server.tls.enabled is True
    assert (config.server.tls.cert_file, config.server.tls.key_file) == (str(cert), str(key))


def test_guide_metrics_snippet(parse: Parse) -> None:
    config = parse(_with_required(GUIDE_METRICS))
    assert (config.metrics.enabled, config.metrics.port, config.metrics.path) == (
        True,
        9091,
        "/metrics",
    )


def test_guide_sqlite_tuning_snippet(parse: Parse) -> None:
    config = parse(_with_required(GUIDE_SQLITE_TUNING))
    assert config.database.busy_timeout == 5000
    assert config.database.cache_size == -8000
    assert config.database.synchronous_mode == "NORMAL"


def test_guide_rate_limit_snippet(parse: Parse) -> None:
    config = parse(_with_required(GUIDE_RATE_LIMIT))
    assert config.rate_limit.enabled is True
    assert config.rate_limit.requests_per_second == 1000.0
    assert config.rate_limit.burst_size == 2000


def test_guide_gc_snippet(parse: Parse) -> None:
    config = parse(_with_required(GUIDE_GC))
    assert config.gc.interval == 3600.0
    assert config.gc.grace_period == 86400.0
    assert config.gc.batch_size == 1000


def test_guide_snippets_together_form_one_valid_config(parse: Parse, tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    tls = GUIDE_TLS.replace("/etc/alexander/tls.crt", str(cert)).replace(
        "/etc/alexander/tls.key", str(key)
    )
    text = "\n".join([GUIDE_DISTRIBUTED, tls, GUIDE_METRICS, GUIDE_RATE_LIMIT, GUIDE_GC]) + dump(
        {"auth": {"master_key": MASTER_KEY}}
    )
    env = {"POSTGRES_PASSWORD": DB_PASSWORD, "REDIS_PASSWORD": REDIS_PASSWORD}
    config = parse(text, env=env)
    assert config.database.driver == "postgres"
    assert config.server.tls.enabled is True
    assert config.gc.grace_period == 86400.0
