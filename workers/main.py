"""Entry point of worker children: `python -m workers.main blob|meta` (the supervisor runs it)."""

from __future__ import annotations

import functools
import socket
import sys

from workers._runtime import boot_channel, die_with_parent, run_child


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("blob", "meta"):
        print("usage: python -m workers.main blob|meta (started by alexanderd)", file=sys.stderr)
        return 2
    die_with_parent()
    sock, boot = boot_channel()
    if argv[0] == "blob":
        from workers.blob.server import serve_blob

        # Plain asyncio: uvloop measured slower than asyncio on large bodies (ARCHITECTURE 2).
        serve = functools.partial(serve_blob, node=boot.node or socket.gethostname())
        return run_child("blob", sock, boot, serve, use_uvloop=False)
    from workers.meta.server import serve_meta

    return run_child("meta", sock, boot, serve_meta, use_uvloop=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
