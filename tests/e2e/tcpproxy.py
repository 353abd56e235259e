"""A TCP forwarder the tests can switch off and on: a database or cache "outage" that is
exactly what the daemon would see if the server died (connections reset, connects refused),
without stopping the machine's shared server."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.resume()
        self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def resume(self) -> None:
        """Accept connections again (the server is back)."""
        with self._lock:
            if self._listener is None:
                listener = socket.socket()
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind(("127.0.0.1", self.port))
                listener.listen(128)
                listener.setblocking(False)
                self._listener = listener
        self._wake()

    def pause(self) -> None:
        """Reset every connection and refuse new ones (the server is down)."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for a, b in self._pairs:
                for s in (a, b):
                    with contextlib.suppress(OSError):
                        s.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        s.close()
            self._pairs.clear()
        self._wake()

    def close(self) -> None:
        self._stop.set()
        self.pause()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                watched = {self._wake_r}
                if self._listener is not None:
                    watched.add(self._listener)
                for a, b in self._pairs:
                    watched.update((a, b))
            current = {key.fileobj for key in self._selector.get_map().values()}
            for sock in current - watched:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
            for sock in watched - current:
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.register(sock, selectors.EVENT_READ)
            for key, _ in self._selector.select(timeout=0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                elif sock is self._listener:
                    self._accept()
                else:
                    self._forward(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._pairs.append((client, upstream))

    def _forward(self, sock: socket.socket) -> None:
        with self._lock:
            pair = next((p for p in self._pairs if sock in p), None)
        if pair is None:
            return
        other = pair[1] if sock is pair[0] else pair[0]
        try:
            data = sock.recv(65536)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for s in pair:
            with contextlib.suppress(OSError):
                s.close()
