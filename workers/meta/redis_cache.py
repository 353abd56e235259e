"""A read-through cache in Redis that never serves a value older than an acknowledged write,
on any node: entries are tagged with the (epoch, generation) they were read under.

Protocol (one generation counter per scope: a bucket, or all access keys):
- writer: commit to the database, then `bump(scope)` (INCR the scope's generation), then
  reply. Generations start at a random value, so a counter lost to eviction and recreated
  cannot climb back to a value some old entry carries.
- reader: `lookup` reads the epoch, the scope's generation and the entries in one MGET, and
  uses an entry only if it carries both; on a miss it reads the database and `fill`s the
  entry tagged with the epoch and generation it read BEFORE the database (a Lua script stores
  it only if both are still current). So a write that bumped in between leaves the entry
  unusable: the reader's own answer may predate that concurrent write, the cache never does.
- entries expire `ttl` seconds after the generation was read (not after the SET), the last
  bound on any entry's life.

The epoch (one key, "<redis run_id>/<random>") invalidates everything at once:
- a node whose bump failed (Redis down or erroring) does not read through the cache again
  until it has replaced the epoch, which it does as soon as Redis answers (the link's
  recovery hook, or the next lookup or bump);
- an epoch whose run_id is not the answering server's was written by another Redis process:
  Redis restarted from a snapshot or failed over to a replica, and may have come back with
  old generations and old entries (redis-py reconnects silently, so no error says so). The
  first reader to see that replaces the epoch before using anything. A missing epoch
  (restart without persistence, eviction) is replaced the same way.

Remaining window: a node that wrote but could not bump while OTHER nodes still reach Redis
(a partition between that node and Redis, or an error reply such as OOM). Until the writer
replaces the epoch, other nodes may serve entries filled before its write; it replaces the
epoch as soon as it reaches Redis again, and in any case those entries expire within `ttl`
seconds of that write (they were read, hence their TTL started, before it). The writer
itself never serves them: it stops reading through the cache at the failed bump, before
acknowledging its write.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from workers.meta.redis_client import RedisLink, RedisUnavailable

log = logging.getLogger("alexanderd.meta.cache")

DEFAULT_TTL = 30.0
MIN_FILL_TTL = 0.05  # an entry that would live less than this is not worth a round trip
_GEN_SEED = 1 << 50

# Writer: INCR, starting from a random value when the counter does not exist.
_BUMP = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('INCR', KEYS[1])
"""

# Reader on a missing generation: create it at a random value, return what is there.
_SEED = """
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""

# Fill: store the entry only if the epoch and the generation read first are still current.
_FILL = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  for i = 3, #KEYS do
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[3])
  end
  return 1
end
return 0
"""

# Epoch replacement: only if nobody replaced it meanwhile ("" = missing); returns the epoch.
_RENEW = """
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
return current
"""


class _Entry(msgspec.Struct, array_like=True):
    epoch: str
    gen: str
    payload: bytes


_encode = msgspec.msgpack.Encoder().encode
_decode_entry = msgspec.msgpack.Decoder(_Entry).decode


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a reader read before going to the database; `fill` needs it."""

    scope: str
    epoch: str
    gen: str
    read_at: float  # time.monotonic() before the generation was read


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class GenerationCache:
    """The protocol above over one RedisLink. No method raises for Redis trouble: reads
    miss, fills are dropped, and failed bumps are remembered (see `usable`)."""

    def __init__(self, link: RedisLink, *, ttl: float = DEFAULT_TTL) -> None:
        if ttl <= 0:
            raise ValueError(f"cache TTL must be positive, got {ttl}")
        self.link = link
        self.ttl = ttl
        self._epoch_key = link.key("epoch")
        self._bump = link.register(_BUMP)
        self._seed = link.register(_SEED)
        self._fill = link.register(_FILL)
        self._renew = link.register(_RENEW)
        # Bumps that failed so far, and how many of them the last epoch renewal covers.
        self.failed_bumps = 0
        self._settled = 0
        self._renewing = False
        self.renewals = 0
        link.on_recover(self.settle)

    @property
    def usable(self) -> bool:
        """Reads may go through the cache: Redis answers and no bump is left unsettled."""
        return self.link.available and self.failed_bumps == self._settled

    def gen_key(self, scope: str) -> str:
        return self.link.key(f"gen:{scope}")

    def entry_key(self, name: str) -> str:
        return self.link.key(f"c:{name}")

    async def settle(self) -> None:
        """Replace the epoch if a bump failed since the last replacement. Concurrent callers
        do not wait for a renewal in progress: they bypass the cache until it is done."""
        if self.failed_bumps == self._settled or not self.link.available or self._renewing:
            return
        covered = self.failed_bumps
        self._renewing = True
        try:
            current = await self.link.execute("GET", self._epoch_key)
            await self._replace_epoch("" if current is None else _text(current))
        except RedisUnavailable as exc:
            log.warning("cache epoch not renewed yet: %s", exc)
            return
        finally:
            self._renewing = False
        # Bumps that failed while we renewed are not covered: the next settle renews again.
        self._settled = covered

    async def lookup(
        self, scope: str, names: Sequence[str]
    ) -> tuple[Ticket | None, list[bytes | None]]:
        """The payloads of `names` still valid in `scope` (None: miss), and the ticket for
        filling the misses (None: the cache is not usable now, do not fill)."""
        misses: list[bytes | None] = [None] * len(names)
        await self.settle()
        if not self.usable:
            return None, misses
        read_at = time.monotonic()
        keys = [self._epoch_key, self.gen_key(scope), *(self.entry_key(n) for n in names)]
        try:
            values = await self.link.execute("MGET", *keys)
            epoch = "" if values[0] is None else _text(values[0])
            trusted = self._epoch_current(epoch)
            if not trusted:
                # Written by another Redis process, or gone: nothing here can be trusted.
                epoch = await self._replace_epoch(epoch)
            if values[1] is None:
                trusted = False
                seeded = await self.link.run_script(
                    self._seed, [self.gen_key(scope)], [self._random_gen()]
                )
                gen = _text(seeded)
            else:
                gen = _text(values[1])
        except RedisUnavailable:
            return None, misses
        found = [self._valid(raw, epoch, gen) for raw in values[2:]] if trusted else misses
        # A bump of ours failing meanwhile: answer from the database (see the docstring).
        if not self.usable:
            return None, misses
        return Ticket(scope, epoch, gen, read_at), found

    async def fill(self, ticket: Ticket, name: str, payload: bytes) -> bool:
        """Store `payload` under `name` if the ticket is still current; True if stored."""
        return await self.fill_many(ticket, {name: payload})

    async def fill_many(self, ticket: Ticket, payloads: dict[str, bytes]) -> bool:
        """`fill` for several entries of one scope in one round trip (all or none)."""
        if not self.usable or not payloads:
            return False
        remaining = self.ttl - (time.monotonic() - ticket.read_at)
        if remaining < MIN_FILL_TTL:
            return False
        names = list(payloads)
        keys = [self._epoch_key, self.gen_key(ticket.scope), *map(self.entry_key, names)]
        entries = [_encode(_Entry(ticket.epoch, ticket.gen, payloads[n])) for n in names]
        args: list[str | bytes | int] = [ticket.epoch, ticket.gen, int(remaining * 1000)]
        try:
            done = await self.link.run_script(self._fill, keys, [*args, *entries])
        except RedisUnavailable:
            return False
        return int(done) == 1

    async def bump(self, scope: str) -> None:
        """Invalidate every entry of `scope`. Call after the database commit, before the
        reply. A failure is remembered: this node stops reading through the cache until the
        epoch is replaced."""
        await self.settle()
        try:
            await self.link.run_script(self._bump, [self.gen_key(scope)], [self._random_gen()])
        except RedisUnavailable as exc:
            self._failed(f"invalidation of {scope}", exc)

    async def bump_all(self) -> None:
        """Invalidate every entry of every scope (a new epoch)."""
        await self.settle()
        try:
            current = await self.link.execute("GET", self._epoch_key)
            await self._replace_epoch("" if current is None else _text(current))
        except RedisUnavailable as exc:
            self._failed("epoch renewal", exc)

    # -- internals --------------------------------------------------------------------

    def _failed(self, what: str, exc: RedisUnavailable) -> None:
        if self.failed_bumps == self._settled:  # once per outage, not once per write
            log.warning("cache %s failed (%s): reads bypass the cache until resynced", what, exc)
        self.failed_bumps += 1

    def _epoch_current(self, epoch: str) -> bool:
        server, _, token = epoch.partition("/")
        return bool(token) and server == self.link.server_id

    async def _replace_epoch(self, seen: str) -> str:
        fresh = f"{self.link.server_id}/{secrets.token_hex(8)}"
        result = _text(await self.link.run_script(self._renew, [self._epoch_key], [seen, fresh]))
        if result == fresh:
            self.renewals += 1
            log.info("cache epoch renewed (was %r)", seen or "missing")
        elif not self._epoch_current(result):
            # Someone else renewed, but under another server id than ours: a failover in
            # progress. Do not use what we cannot place; the next lookup tries again.
            raise RedisUnavailable(f"cache epoch {result!r} does not match server {fresh!r}")
        return result

    @staticmethod
    def _random_gen() -> int:
        return secrets.randbelow(_GEN_SEED) + 1

    @staticmethod
    def _valid(raw: object, epoch: str, gen: str) -> bytes | None:
        if not isinstance(raw, bytes):
            return None
        try:
            entry = _decode_entry(raw)
        except msgspec.DecodeError:
            return None  # written by another version, or garbage: a miss
        if entry.epoch != epoch or entry.gen != gen:
            return None
        return entry.payload
