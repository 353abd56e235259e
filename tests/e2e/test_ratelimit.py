"""Rate limiting: 503 SlowDown past the burst, per node without Redis, shared with it."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections import Counter

from tests.e2e.daemon import Daemon


def burst(endpoint: str, n: int) -> Counter[int]:
    codes: Counter[int] = Counter()
    for _ in range(n):
        try:
            with urllib.request.urlopen(f"{endpoint}/some-bucket/key", timeout=60) as resp:
                codes[resp.status] += 1
        except urllib.error.HTTPError as exc:
            body = exc.read()
            if exc.code == 503:
                assert b"<Code>SlowDown</Code>" in body
                assert exc.headers["Retry-After"]
            codes[exc.code] += 1
    return codes


def test_local_token_bucket() -> None:
    d = Daemon(
        config={"rate_limit": {"enabled": True, "requests_per_second": 0.01, "burst_size": 5}}
    )
    try:
        d.start()
        codes = burst(d.endpoint, 20)
        assert codes[503] == 15, codes
        assert codes[404] + codes[403] == 5, codes  # the burst got through to S3 handling
    finally:
        d.cleanup()


def test_limits_are_shared_across_nodes_through_redis(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    config = {
        # A refill far slower than the test: the budget is the burst alone, however busy
        # the machine is.
        "rate_limit": {"enabled": True, "requests_per_second": 0.01, "burst_size": 10},
        "redis": {"enabled": True, "host": host, "port": port, "db": 3},
    }
    nodes = [Daemon(config=config), Daemon(config=config)]
    try:
        for node in nodes:
            node.start()
        import redis

        redis.Redis(host=host, port=port, db=3).delete("alexander:rl:ip:127.0.0.1")
        passed = 0
        for _ in range(10):
            for node in nodes:
                codes = burst(node.endpoint, 1)
                passed += codes[404] + codes[403]
        # One shared bucket of 10, not 10 per node.
        assert passed == 10, passed
    finally:
        for node in nodes:
            node.cleanup()


def test_redis_outage_degrades_to_local_limits() -> None:
    closed_port = 1  # nothing listens there: Redis is "down" from the start
    d = Daemon(
        config={
            "rate_limit": {"enabled": True, "requests_per_second": 0.01, "burst_size": 5},
            "redis": {"enabled": True, "host": "127.0.0.1", "port": closed_port},
        }
    )
    try:
        d.start()
        codes = burst(d.endpoint, 15)
        assert codes[503] == 10 and codes[404] + codes[403] == 5, codes
        assert os.path.exists(d.control)
    finally:
        d.cleanup()
