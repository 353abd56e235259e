"""Request rate limiting: a token bucket per client (access key, or IP when anonymous).

`rate_limit.requests_per_second` refills, `burst_size` caps. With Redis enabled the buckets
live in Redis (one atomic Lua script per request), so the limit holds across all nodes;
when Redis is unreachable each node falls back to local buckets until it answers again.
"""

from __future__ import annotations

import time
from typing import Any

from protocol.lifecycle import RedisSettings
from protocol.logs import get_logger

log = get_logger("ratelimit")
MAX_LOCAL_BUCKETS = 100_000
RETRY_REDIS_AFTER = 1.0

# Redis's own clock keeps every node's refill on one time base.
_TOKEN_BUCKET = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local data = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(data[1]) or burst
local ts = tonumber(data[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return allowed
"""


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class RateLimiter:
    def __init__(self, rate: float, burst: int, redis: RedisSettings, runtime: str) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self._local: dict[str, TokenBucket] = {}
        self._redis: Any = None
        self._script: Any = None
        self._retry_at = 0.0
        self.redis_ok = False
        if redis.enabled and runtime == "asyncio":
            import redis.asyncio as aioredis

            self._redis = aioredis.Redis(
                host=redis.host,
                port=redis.port,
                password=redis.password or None,
                db=redis.db,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._script = self._redis.register_script(_TOKEN_BUCKET)
            self.redis_ok = True
        elif redis.enabled:
            log.warning("redis-py needs asyncio: rate limits are per node on the trio runtime")

    async def allow(self, client: str) -> bool:
        if self._script is not None and time.monotonic() >= self._retry_at:
            try:
                allowed = await self._script(keys=[f"alexander:rl:{client}"],
                                             args=[self.rate, self.burst])  # fmt: skip
            except Exception as exc:  # any Redis failure: degrade, never fail the request
                if self.redis_ok:
                    log.warning("redis unavailable; rate limits are per node", error=str(exc))
                self.redis_ok = False
                self._retry_at = time.monotonic() + RETRY_REDIS_AFTER
            else:
                if not self.redis_ok:
                    log.info("redis is back; rate limits are shared again")
                self.redis_ok = True
                return bool(allowed)
        return self._local_take(client)

    def _local_take(self, client: str) -> bool:
        bucket = self._local.get(client)
        if bucket is None:
            if len(self._local) >= MAX_LOCAL_BUCKETS:
                self._local.clear()  # bounded memory; a reset only grants a fresh burst
            bucket = self._local[client] = TokenBucket(self.rate, self.burst)
        return bucket.take()
