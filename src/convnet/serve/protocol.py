"""Uvicorn's HTTP protocol with the guards a slow or greedy client needs.

Uvicorn reads a request's headers and body for as long as the client keeps the connection
open, and its `limit_concurrency` counts open connections, so a few hundred connections that
never finish their headers answered every other client with 503. Here, per connection:

- the headers of each request must be complete within `header_timeout` seconds of the
  connection opening (or of the previous response), else 408 and the connection is closed;
- its body must be complete within `body_timeout` seconds of its headers, else the
  connection is closed (the app sees a disconnect);
- one client address may hold at most `per_client` connections and the server at most
  `max_connections`; a connection beyond either is answered 503 and closed at once.

Busy-ness (503 beyond a number of requests in flight) is counted by the app over requests
whose headers are complete, so idle connections do not count against anyone."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Guards:
    header_timeout: float = 10.0      # seconds from connection (or last response) to full headers
    body_timeout: float = 60.0        # seconds from full headers to the end of the body
    per_client: int = 64              # open connections from one address
    max_connections: int = 4096       # open connections in all


REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
           b"connection: close\r\nretry-after: 1\r\ncontent-length: %d\r\n\r\n%s")
TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
             b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


def _response(template: bytes, detail: str) -> bytes:
    body = b'{"detail": "%s"}' % detail.encode()
    return template % (len(body), body)


def guarded_protocol(guards: Guards, base: type | None = None) -> type:
    """A subclass of uvicorn's HTTP protocol (`base`, default the one uvicorn picks) with
    `guards`; pass it as uvicorn.Config(http=...). Each call has its own connection counts."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol as base
    counts: Counter = Counter()          # address -> open connections, shared by this server's

    class GuardedProtocol(_Guard, base):
        pass

    GuardedProtocol.guards, GuardedProtocol.counts = guards, counts
    return GuardedProtocol


class _Guard:
    """The mixin; it relies only on what uvicorn's h11 and httptools protocols both have:
    connection_made/lost, data_received, on_response_complete, .transport, .loop, .cycle."""

    guards: Guards
    counts: Counter

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) and peer else "?"
        self._timer: asyncio.TimerHandle | None = None
        self._cycle_seen = None
        self._got_bytes = False
        self.counts[self._address] += 1
        if self.counts[self._address] > self.guards.per_client:
            return self._refuse(f"more than {self.guards.per_client} connections from one client (the cap)")
        if sum(self.counts.values()) > self.guards.max_connections:
            return self._refuse(f"more than {self.guards.max_connections} connections (the cap)")
        self._arm(self.guards.header_timeout, self._headers_too_slow)

    def connection_lost(self, exc) -> None:
        self._disarm()
        self.counts[self._address] -= 1
        if self.counts[self._address] <= 0:
            del self.counts[self._address]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._got_bytes = False
            self._arm(self.guards.header_timeout, self._headers_too_slow)   # the next request's
            self._follow()           # a pipelined request may already have started

    def _follow(self) -> None:
        """After the parser ran: a new request has complete headers; a body has ended."""
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        if cycle is not self._cycle_seen:
            self._cycle_seen = cycle
            self._disarm()
            if cycle.more_body:
                self._arm(self.guards.body_timeout, self._body_too_slow)
        elif not cycle.more_body and self._timer is not None and self._timer_is_body:
            self._disarm()

    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._timer_is_body = callback == self._body_too_slow
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
            self._timer = None

    def _headers_too_slow(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._got_bytes:          # part of a request came: say why; an idle one just closes
            self.transport.write(_response(
                TIMED_OUT, f"request headers not complete within {self.guards.header_timeout:g} s"))
        self.transport.close()

    def _body_too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()   # the app's receive() gets a disconnect and gives up quietly

    def _refuse(self, detail: str) -> None:
        self.transport.write(_response(REFUSED, detail))
        self.transport.close()
