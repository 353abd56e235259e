"""Run moto's S3 server on a kernel-chosen loopback port until standard input closes.

Runs under whichever interpreter has `moto[server]` (maybe not the project's venv), so it
uses only the standard library and moto. Prints "HOST PORT" once the socket is bound.
"""

from __future__ import annotations

import importlib
import logging
import sys


def main() -> None:
    # werkzeug logs every request to stderr; that costs moto CPU the benchmark would count.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    server_module = importlib.import_module("moto.moto_server.threaded_moto_server")
    server = server_module.ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    print(bound_host, port, flush=True)
    # The benchmark closes our stdin to stop us; EOF is the only signal we wait for.
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
