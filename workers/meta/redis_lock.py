"""A lease in Redis with a fencing token: one holder at a time across every node.

Acquire is one Lua script: `SET lock <owner> NX PX ttl`, and only if that succeeded,
`INCR fence`; the new counter value is the holder's fencing token, strictly greater than every
token handed out before (the counter is first raised to `floor` when a caller knows of a
larger token, e.g. one recorded durably before Redis lost its data). Extend is
compare-and-PEXPIRE and release compare-and-DEL, both Lua, so a holder whose lease expired
can never extend or delete the lease of the next holder. The owner string is random per
acquisition, so two acquisitions by one process are distinct holders too.

A lease is only as good as its expiry: a holder paused for longer than the TTL no longer
holds the lock and must not act, which is what the fencing token is for (see gc_lock.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from workers.meta.redis_client import RedisLink

_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return false
end
local floor = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < floor then
  redis.call('SET', KEYS[2], floor)
end
return redis.call('INCR', KEYS[2])
"""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """One acquisition: `owner` is the value stored in the lock key, `token` the fence."""

    owner: str
    token: int


def _ttl_ms(ttl: float) -> int:
    if ttl <= 0:
        raise ValueError(f"lock TTL must be positive, got {ttl}")
    return max(1, int(ttl * 1000))


class RedisLock:
    """The lock named `name` under the link's key prefix. Every method raises
    RedisUnavailable when Redis cannot answer; the caller decides what that means."""

    def __init__(self, link: RedisLink, name: str) -> None:
        if not name:
            raise ValueError("a lock needs a name")
        self._link = link
        self.key = link.key(f"lock:{name}")
        self.fence_key = link.key(f"fence:{name}")
        self._acquire = link.register(_ACQUIRE)
        self._extend = link.register(_EXTEND)
        self._release = link.register(_RELEASE)

    async def acquire(self, ttl: float, *, floor: int = 0) -> Lease | None:
        """The lease if the lock was free, else None. The token is > `floor`."""
        if floor < 0:
            raise ValueError(f"fence floor must be >= 0, got {floor}")
        owner = secrets.token_hex(16)
        token = await self._link.run_script(
            self._acquire, [self.key, self.fence_key], [owner, _ttl_ms(ttl), floor]
        )
        if token is None:
            return None
        return Lease(owner=owner, token=int(token))

    async def extend(self, lease: Lease, ttl: float) -> bool:
        """Reset the lease's expiry to `ttl` from now; False if it is no longer held."""
        done = await self._link.run_script(self._extend, [self.key], [lease.owner, _ttl_ms(ttl)])
        return int(done) == 1

    async def release(self, lease: Lease) -> bool:
        """Delete the lock if this lease still holds it; False if it had expired (and
        perhaps been taken by someone else, whose lock stays)."""
        done = await self._link.run_script(self._release, [self.key], [lease.owner])
        return int(done) == 1

    async def holder(self) -> str | None:
        """The owner string of the current holder (diagnostics and tests)."""
        value = await self._link.execute("GET", self.key)
        return None if value is None else bytes(value).decode("ascii")

    async def latest_token(self) -> int:
        """The last fencing token handed out (0 if none)."""
        value = await self._link.execute("GET", self.fence_key)
        return 0 if value is None else int(value)
