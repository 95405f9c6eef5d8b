"""wsdat-osc: forward what a DAT receives as OSC messages over UDP.

TouchDesigner projects talk OSC everywhere (OSC In CHOP/DAT, lighting desks, sound tools); this bridges a WebSocket
feed into that world without a TD instance in the middle:

* text messages go to ``<prefix>/<dat name>/text`` with the message as a string argument; a JSON object with number
  values also sends each number to ``<prefix>/<dat name>/<dotted key>`` (``/wsdat/feed/sensor.temp 21.5``), so a
  CHOP can take them as channels;
* binary messages go to ``<prefix>/<dat name>/binary`` as a blob;
* connect and disconnect go to ``<prefix>/<dat name>/connected`` as 1 or 0.

As ``--callbacks osc`` (one forwarder per DAT) it reads its settings in ``onStart`` from ``dat.pluginSettings("osc")``
(a service file's ``[dat.NAME.plugins.osc]``, the CLI's ``--set osc.KEY=V``, or ``WSDAT_OSC_<KEY>`` environment
variables as defaults): ``host`` (default 127.0.0.1), ``port`` (default 7000) and ``prefix`` (default ``/wsdat``).
From Python: ``OSCForwarder(host, port, prefix=...)``; arguments given there win. The UDP socket is closed in
``onExit``. UDP sends do not block; a send that fails (no route, message too large) is counted in ``failed`` and
reported once, never raised.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

__all__ = ["OSCForwarder", "numbers"]


def numbers(value: Any, prefix: str = "") -> dict[str, float]:
    """The number leaves of a JSON value by dotted path (booleans excluded)."""
    found: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(numbers(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and prefix:
        found[prefix] = value
    return found


class OSCForwarder:
    """A callbacks plugin sending OSC to ``host:port``."""

    def __init__(self, host: str | None = None, port: int | None = None, *, prefix: str | None = None) -> None:
        self._given = {"host": host, "port": port, "prefix": prefix}
        self.host = host or "127.0.0.1"
        self.port = port or 7000
        self.prefix = (prefix if prefix is not None else "/wsdat").rstrip("/")
        self._socket: socket.socket | None = None  # opened on first use
        self._address: Any = None
        self.sent = 0
        self.failed = 0

    def _send(self, dat: Any, address: str, value: Any) -> None:
        builder = OscMessageBuilder(address=f"{self.prefix}/{dat.name}/{address}")
        builder.add_arg(value)
        try:
            if self._socket is None:
                family, kind, proto, _, self._address = socket.getaddrinfo(self.host, self.port,
                                                                           type=socket.SOCK_DGRAM)[0]
                self._socket = socket.socket(family, kind, proto)
                self._socket.setblocking(False)  # a full send buffer drops a datagram; it never stalls the DAT
            self._socket.sendto(builder.build().dgram, self._address)
            self.sent += 1
        except OSError as exc:
            self.failed += 1
            if self.failed == 1:
                dat.monitor(f"wsdat-osc: cannot send to {self.host}:{self.port}: {exc}", logging.WARNING)

    def close(self) -> None:
        """Close the UDP socket."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def onStart(self, dat: Any) -> None:
        settings = {**dat.pluginSettings("osc"), **{k: v for k, v in self._given.items() if v is not None}}
        self.host = str(settings.get("host", self.host))
        self.port = int(settings.get("port", self.port))
        self.prefix = str(settings.get("prefix", self.prefix)).rstrip("/")

    def onExit(self, dat: Any) -> None:
        self.close()

    def onConnect(self, dat: Any) -> None:
        self._send(dat, "connected", 1)

    def onDisconnect(self, dat: Any) -> None:
        self._send(dat, "connected", 0)

    def onReceiveText(self, dat: Any, message: str) -> None:
        self._send(dat, "text", message)
        if message[:1] == "{":
            try:
                parsed = json.loads(message)
            except ValueError:
                return
            for path, number in numbers(parsed).items():
                self._send(dat, path, number)

    def onReceiveBinary(self, dat: Any, contents: bytes) -> None:
        self._send(dat, "binary", bytes(contents))
