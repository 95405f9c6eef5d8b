"""The WebSocket DAT's parameter pages, declared once: each parameter's name, default, checker, page, help and the
effect changing it has on a running DAT. :data:`SPECS` is the single source of truth: the DAT, the CLI flags, service
files, the HTTP API and the docs read it, and the sets derived from it (:data:`HOST_PARAMS`, :data:`PROTECTED_PARAMS`)
are never written out by hand.

Pure: no trio, no sockets.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .address import DEFAULT_PORT
from .checks import (
    choice,
    existing_file,
    header_names,
    headers,
    integer,
    number,
    plugin_refs,
    pulse_only,
    subprotocols,
    text,
    to_bool,
)
from .proxy import check_proxy

__all__ = ["COMPRESSION", "EXECUTE_FROM", "HOST_PARAMS", "MIB", "PROTECTED_PARAMS", "SPECS", "Effect", "ParSpec",
           "parameters_markdown"]

EXECUTE_FROM: Final = ("current", "callbacks", "op")
COMPRESSION: Final = ("deflate", "off")
MIB: Final = 1024 * 1024


class Effect(enum.Enum):
    """What changing a parameter does to a running DAT; the session dispatches on it, so a new parameter needs one
    entry in :data:`SPECS` and nothing else."""

    #: Nothing at once: the value is read where it is used (a hook call, the next reconnect, the next cook).
    READ = "read"
    #: Connect or disconnect (``active``).
    ACTIVE = "active"
    #: Re-open the connection with the new value.
    RECONNECT = "reconnect"
    #: The table's attribute of the same name takes the value (a pulse calls the table's method of that name).
    TABLE = "table"
    #: The callbacks are loaded again (checked before the change is committed).
    HOST = "host"
    #: The running connection's keepalive takes the new settings.
    KEEPALIVE = "keepalive"
    #: The send queue's bounds change at once.
    SEND = "send"
    #: ``.py`` callbacks files are loaded again at once.
    RELOAD = "reload"


@dataclass(frozen=True, slots=True)
class ParSpec:
    """One parameter: its name, default, checker (coerces and validates), where it lives and what changing it does."""

    name: str
    default: Any
    check: Callable[[str, object], Any]
    help: str
    page: str
    effect: Effect = Effect.READ
    #: The value a command-line flag takes (``None``: a switch).
    metavar: str | None = None
    #: False for what the DAT trusts and sends along (TLS files, proxy, headers): whoever changes it could read the
    #: DAT's credentials or its traffic, so the HTTP API never changes it (the service file does).
    remote: bool = True

    @property
    def label(self) -> str:
        """The parameter's label, as TouchDesigner's parameter dialog shows it (``Max Lines``)."""
        return _LABELS.get(self.name, self.name.capitalize())

    @property
    def is_pulse(self) -> bool:
        return self.check is pulse_only

    @property
    def is_switch(self) -> bool:
        return self.check is to_bool


_LABELS: Final = {
    "netaddress": "Network Address", "executeloc": "Execute from", "fromop": "From Operator", "maxlines": "Max Lines",
    "clear": "Clear Output", "bytes": "Bytes Column", "cafile": "CA File", "certfile": "Certificate File",
    "keyfile": "Key File", "subprotocols": "Subprotocols", "binaryrows": "Binary Rows",
    "secretheaders": "Secret Headers",
    "maxmessagesize": "Max Message Size", "reconnectdelay": "Reconnect Delay", "reconnectfactor": "Reconnect Factor",
    "reconnectmaxdelay": "Reconnect Max Delay", "pinginterval": "Ping Interval", "pingtimeout": "Ping Timeout",
    "autopong": "Auto Pong", "sendqueuesize": "Send Queue Size",
    "sendqueuebytes": "Send Queue Bytes", "maxredirects": "Max Redirects",
    "reloadcallbacks": "Reload Callbacks", "reload": "Reload Callbacks Now", "maxtablebytes": "Max Table Bytes",
    "reloadtimeout": "Reload Timeout",
    # the Web Server DAT's (wsdat_core.model.serverparams)
    "secure": "Secure (TLS)", "privatekey": "Private Key", "maxclients": "Max Clients", "static": "Static Files",
}


def _specs(*specs: ParSpec) -> dict[str, ParSpec]:
    return {spec.name: spec for spec in specs}


SPECS: Final[Mapping[str, ParSpec]] = _specs(
    # Connect page (TD)
    ParSpec("active", True, to_bool, "While on, the DAT connects and receives; while off, arriving data is lost.",
            "Connect", effect=Effect.ACTIVE),
    ParSpec("netaddress", "localhost", text, "Server address: host, IP, [IPv6], or a ws:// / wss:// URL.",
            "Connect", effect=Effect.RECONNECT, metavar="ADDRESS"),
    ParSpec("port", DEFAULT_PORT, integer(1, 65535, range_=True), "Server port; 443 implies TLS (wss).", "Connect",
            effect=Effect.RECONNECT, metavar="PORT"),
    ParSpec("timeout", 5000, integer(1, 86_400_000, unit="milliseconds, at most a day"),
            "Connect timeout in ms, bounding DNS + TCP + TLS + WebSocket handshake.", "Connect",
            effect=Effect.RECONNECT, metavar="MS"),
    # TLS and handshake (wsdat)
    ParSpec("cafile", None, existing_file, "PEM file of CA certificates to trust instead of the system store.", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("certfile", None, existing_file, "PEM client certificate (may hold the key too).", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("keyfile", None, existing_file, "PEM private key of the client certificate.", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("insecure", False, to_bool, "Skip TLS certificate and host name checks (warns on every connect).",
            "TLS", effect=Effect.RECONNECT, remote=False),
    ParSpec("headers", (), headers, "Extra HTTP headers for the handshake ('Name: value').", "TLS",
            effect=Effect.RECONNECT, metavar="K:V", remote=False),
    ParSpec("secretheaders", (), header_names,
            "Headers whose values are credentials, masked wherever wsdat shows them, as Authorization, "
            "Proxy-Authorization and Cookie always are.", "TLS", metavar="NAME", remote=False),
    ParSpec("subprotocols", (), subprotocols, "WebSocket subprotocols to offer.", "TLS", effect=Effect.RECONNECT,
            metavar="NAME"),
    ParSpec("compression", "deflate", choice(COMPRESSION),
            "permessage-deflate (RFC 7692): 'deflate' offers it (sent messages are compressed when the server "
            "agrees), 'off' does not.", "TLS", effect=Effect.RECONNECT, metavar="MODE"),
    ParSpec("proxy", "", check_proxy,
            "Proxy: '' reads wss_proxy/https_proxy, ws_proxy/http_proxy, all_proxy and no_proxy from the "
            "environment; 'off'; or http://[user:pass@]host:port, https://..., socks5://, socks5h://, socks4://.",
            "TLS", effect=Effect.RECONNECT, metavar="URL", remote=False),
    ParSpec("maxredirects", 10, integer(0, 100, unit="redirects followed"),
            "HTTP redirects (301/302/303/307/308) of the upgrade request followed at most; wss to ws is refused.",
            "TLS", effect=Effect.RECONNECT, metavar="N"),
    # Received Messages page (TD)
    ParSpec("callbacks", (), plugin_refs,
            "Callbacks plugins: entry-point names, module[:attr], .py files or objects.", "Received Messages",
            effect=Effect.HOST, metavar="REF"),
    ParSpec("executeloc", "current", choice(EXECUTE_FROM),
            "Execute from: what hooks get as 'me' (current DAT, callbacks plugin, or fromop).", "Received Messages",
            effect=Effect.HOST, metavar="WHERE"),
    ParSpec("fromop", "", text, "The object used as 'me' when executeloc is 'op' (module:attr or a DAT name).",
            "Received Messages", effect=Effect.HOST, metavar="REF"),
    ParSpec("reloadcallbacks", True, to_bool,
            "Live editing: a .py callbacks file changed on disk is loaded again before the next cook at least 0.5 s "
            "after the change (a broken edit keeps the previous callbacks).", "Received Messages"),
    ParSpec("reload", None, pulse_only, "Pulse: load the .py callbacks files again now.", "Received Messages",
            effect=Effect.RELOAD),
    ParSpec("reloadtimeout", 5.0, number(0, lo_inclusive=False, unit="seconds"),
            "Most seconds a .py callbacks file's module-level code may run when it is loaded or reloaded; longer is "
            "a failed load (a failed reload keeps the previous callbacks).", "Received Messages", metavar="S"),
    ParSpec("clamp", True, to_bool, "Limit the table to maxlines message rows; off: unlimited.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("maxlines", 100, integer(1), "Maximum message rows kept while clamp is on (oldest removed first).",
            "Received Messages", effect=Effect.TABLE, metavar="N"),
    ParSpec("clear", None, pulse_only, "Pulse: delete all rows except the heading.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("bytes", False, to_bool, "Add a 'bytes' column: the raw bytes as hex pairs.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("maxtablebytes", 256 * MIB, integer(0, unit="bytes, 0 = no limit"),
            "Memory guard with clamp off: past this many bytes the oldest rows are removed as a clamp would (warned "
            "once).", "Received Messages", effect=Effect.TABLE, metavar="N"),
    ParSpec("binaryrows", False, to_bool, "Binary messages become rows too (not only onReceiveBinary).",
            "Received Messages"),
    ParSpec("maxmessagesize", 16 * MIB, integer(1, unit="bytes"),
            "Largest accepted message in bytes (UTF-8 bytes for text, after decompression); a larger one closes the "
            "connection with 1009.", "Received Messages",
            effect=Effect.RECONNECT, metavar="N"),
    # Resilience page (wsdat)
    ParSpec("reconnect", True, to_bool,
            "Reconnect with exponential backoff and jitter after an unexpected disconnect or failed attempt.",
            "Resilience"),
    ParSpec("reconnectdelay", 1.0, number(0, lo_inclusive=False, unit="seconds"),
            "First reconnect delay window: the first retry waits a random time below it.", "Resilience",
            metavar="S"),
    ParSpec("reconnectfactor", 1.618, number(1, lo_inclusive=True, unit="growth per attempt"),
            "Growth factor of the reconnect delay.", "Resilience", metavar="X"),
    ParSpec("reconnectmaxdelay", 60.0, number(0, lo_inclusive=False, unit="seconds"),
            "Cap of the reconnect delay.", "Resilience", metavar="S"),
    ParSpec("pinginterval", 20.0, number(0, lo_inclusive=True, unit="seconds, 0 = off"),
            "Keepalive: send a ping after this long; 0 turns keepalive off.", "Resilience", effect=Effect.KEEPALIVE,
            metavar="S"),
    ParSpec("pingtimeout", 20.0, number(0, lo_inclusive=True, unit="seconds, 0 = do not wait"),
            "Keepalive: a peer that does not answer a ping within this long is declared dead.", "Resilience",
            effect=Effect.KEEPALIVE, metavar="S"),
    ParSpec("autopong", True, to_bool,
            "Answer each ping with a pong right after onReceivePing, unless a hook answered it with sendPong.",
            "Resilience"),
    # Send page (wsdat)
    ParSpec("sendqueuesize", 1024, integer(1, unit="messages"),
            "Most messages waiting to be sent; beyond it sendText & co. return -1 and warn, and the awaitable "
            "send_text/send_binary wait.", "Send", effect=Effect.SEND, metavar="N"),
    ParSpec("sendqueuebytes", 16 * MIB, integer(1, unit="bytes"),
            "Most payload bytes waiting to be sent (one message always fits an empty queue); beyond it as "
            "sendqueuesize.", "Send", effect=Effect.SEND, metavar="N"),
)


#: The parameters that choose the callbacks and their ``me``: loaded (and checked) before a change is committed.
HOST_PARAMS: Final = frozenset(name for name, spec in SPECS.items() if spec.effect is Effect.HOST)
#: The parameters the HTTP API refuses to change besides those: see :attr:`ParSpec.remote`.
PROTECTED_PARAMS: Final = frozenset(name for name, spec in SPECS.items() if not spec.remote)



def parameters_markdown(specs: Mapping[str, ParSpec] = SPECS) -> str:
    """The parameter pages as a Markdown table (used by the docs, so they cannot drift from :data:`SPECS`)."""
    lines = ["| parameter | page | default | meaning |", "|---|---|---|---|"]
    for spec in specs.values():
        default = "pulse" if spec.is_pulse else f"`{spec.default!r}`"
        lines.append(f"| `{spec.name}` | {spec.page} | {default} | {spec.help} |")
    return "\n".join(lines)
