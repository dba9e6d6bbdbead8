"""The far end's media for a sipp call: a loopback UDP port that counts the RTP it receives and
sends each packet back where it came from (sipp's own -rtp_echo counts nothing we can read)."""

from __future__ import annotations

import socket
import threading


class RtpEcho:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self.received = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rtp-echo-{self.port}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                packet, source = self._socket.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            # RTP version 2 (the two top bits of the first byte); RTCP on this port is not counted.
            if len(packet) >= 12 and packet[0] >> 6 == 2 and not 200 <= packet[1] <= 204:
                self.received += 1
                self._socket.sendto(packet, source)
                self.sent += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def __enter__(self) -> RtpEcho:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
