"""A loopback TCP proxy the event tests can cut: between the listener and the AMI, or between
the listener's sink and PostgreSQL, so an outage hits one process and not the shared server.

`drop()` closes the connections in flight and keeps accepting (a lost AMI connection);
`refuse()` also stops listening, so new connections are refused (a database that is down);
`accept()` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._server: socket.socket | None = None
        self.port = 0
        self.accepted = 0
        #: while set, what the upstream sends is read and thrown away (answers that never come)
        self._hold = threading.Event()
        self.accept()

    # --- control ------------------------------------------------------------------------------

    def accept(self) -> None:
        """Listen (again) on the proxy's port."""
        if self._server is not None:
            return
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port))
        server.listen(64)
        self.port = server.getsockname()[1]
        self._server = server
        threading.Thread(target=self._accept_loop, args=(server,), daemon=True).start()

    def drop(self) -> int:
        """Close every connection in flight; returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        return len(pairs)

    def refuse(self) -> int:
        """Stop listening and cut what is in flight: connecting now fails at once."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        return self.drop()

    def close(self) -> None:
        self.refuse()

    def hold_replies(self) -> None:
        """Keep forwarding the client's bytes but drop the upstream's: the client's requests
        arrive and act, their answers never come."""
        self._hold.set()

    def release_replies(self) -> None:
        self._hold.clear()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # --- plumbing -----------------------------------------------------------------------------

    def _accept_loop(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            if self._server is not server:
                client.close()
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._pairs.append((client, upstream))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool = False) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if replies and self._hold.is_set():
                    continue
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            self._pairs = [p for p in self._pairs if source not in p]
