"""`python -m alexanderd.config single|distributed`: print a sample config (how conf/ is made)."""

from __future__ import annotations

import sys

from alexanderd.config.sample import SAMPLE_KINDS, render_sample


def main(argv: list[str]) -> int:
    for kind in SAMPLE_KINDS:
        if argv == [kind]:
            sys.stdout.write(render_sample(kind))
            return 0
    sys.stderr.write(f"usage: python -m alexanderd.config {'|'.join(SAMPLE_KINDS)}\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
