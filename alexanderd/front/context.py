"""What handlers may use of the front: its pools, its key cache and its boot settings."""

from __future__ import annotations

from typing import Protocol

from alexanderd.front.clients import BlobPools, ChannelPool
from protocol.lifecycle import BootFront


class Context(Protocol):
    boot: BootFront
    meta: ChannelPool
    blobs: BlobPools
