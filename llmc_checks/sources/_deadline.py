"""A whole-request deadline for httpx, which only bounds each read, write or connect.

httpx's timeouts apply per socket operation, so a server that trickles a byte a
second holds a 2 s timeout open for as long as it likes. `Deadline` bounds the whole
exchange: a timer shuts the request's socket down when time is up, which wakes a read
blocked in another thread (closing it would not), and the request fails as a timeout.

It rides on httpcore's documented `trace` request extension, which hands over each new
connection's stream (TCP, then TLS); connections are not kept alive (`NO_KEEPALIVE`),
so every request has one of its own to cut. A gate makes a handful of requests: the
lost reuse is cheap.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

import httpx

NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


class Deadline:
    """Use as `with Deadline(seconds) as d: client.request(..., extensions=d.extensions)`."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    @property
    def extensions(self) -> dict[str, Any]:
        return {"trace": self._trace}

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        self._timer.join()

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        # The TCP connection, then (https) its TLS socket, which replaces it.
        if not event.endswith(("connect_tcp.complete", "start_tls.complete")):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: SSLSocket.shutdown would tear
    # down its TLS state under the thread still reading from it. Already closed: fine.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
