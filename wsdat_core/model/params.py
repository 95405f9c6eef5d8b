"""The WebSocket DAT's parameter pages: names, types, defaults, validation and change notification.

Parameter names are TouchDesigner's (``active``, ``netaddress``, ``port``, ``timeout``, ``callbacks``, ``executeloc``,
``fromop``, ``clamp``, ``maxlines``, ``clear``, ``bytes``) plus wsdat's own, all in TD's style: lower case, no
underscores. :data:`SPECS` is the single source of truth: the DAT, the CLI flags, service files and the docs read it.

Values are checked when set; a bad value raises :class:`~.errors.ParameterError` naming the parameter, the
value and what is allowed, and leaves every parameter as it was. Listeners registered with
:meth:`Parameters.subscribe` hear about every change, which is how the runtime reacts to ``dat.par.maxlines = 10``.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from .address import DEFAULT_PORT, Endpoint, resolve_url
from .errors import ParameterError
from .proxy import check_proxy
from .secrets import mask_parameters, mask_value

__all__ = [
    "EXECUTE_FROM",
    "HOST_PARAMS",
    "PROTECTED_PARAMS",
    "SPECS",
    "Effect",
    "Par",
    "ParSpec",
    "Parameters",
    "parameters_markdown",
    "resolve_url",
]

EXECUTE_FROM: Final = ("current", "callbacks", "op")
COMPRESSION: Final = ("deflate", "off")
MIB: Final = 1024 * 1024

Check = Callable[[Mapping[str, Any], frozenset[str]], None]
"""Called as ``check(values, changed_names)`` before a change is committed; raising rejects the whole change."""

Listener = Callable[[str, Any, Any], None]
"""Called as ``listener(name, old, new)`` after a parameter changed (for the ``clear`` pulse: ``old`` and ``new`` are
``None``)."""


# ----------------------------------------------------------------------------------------------------------- coercion
#: Upper bounds no sensible value reaches and every consumer (deques, timers) takes: 2**31 - 1, and a billion seconds.
_LARGEST_INTEGER: Final = 2**31 - 1
_LARGEST_NUMBER: Final = 1e9
_TRUE = {"1", "on", "true", "yes"}
_FALSE = {"0", "off", "false", "no"}


def _to_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):  # TD toggles are 0/1
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ParameterError(name, value, "a boolean (True/False, 1/0, on/off)")


def _integer(lo: int, hi: int = _LARGEST_INTEGER, unit: str = "", *, range_: bool = False
             ) -> Callable[[str, object], int]:
    allowed = (f"an integer from {lo} to {hi}" if range_ else f"an integer >= {lo} (at most {hi})") \
        + (f" ({unit})" if unit else "")

    def check(name: str, value: object) -> int:
        number: object = value
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit() and len(value.strip()) <= 30:
            number = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        if isinstance(number, bool) or not isinstance(number, int) or number < lo or (hi is not None and number > hi):
            raise ParameterError(name, value, allowed)
        return number

    return check


def _number(lo: float, *, lo_inclusive: bool, unit: str) -> Callable[[str, object], float]:
    allowed = f"a finite number {'>=' if lo_inclusive else '>'} {lo:g} and at most {_LARGEST_NUMBER:g} ({unit})"

    def check(name: str, value: object) -> float:
        number: object = value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ParameterError(name, value, allowed) from None
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                or number > _LARGEST_NUMBER:
            raise ParameterError(name, value, allowed)
        if number < lo or (number == lo and not lo_inclusive):
            raise ParameterError(name, value, allowed)
        return float(number)

    return check


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ParameterError(name, value, "a string")
    return value


def _choice(choices: Sequence[str]) -> Callable[[str, object], str]:
    def check(name: str, value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise ParameterError(name, value, "one of " + ", ".join(repr(c) for c in choices))

    return check


def _existing_file(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, (str, os.PathLike)):
        raise ParameterError(name, value, "a path to an existing file, or None")
    path = os.fspath(value)
    if not isinstance(path, str) or not os.path.isfile(path):
        raise ParameterError(name, value, "a path to an existing file, or None (no such file)")
    return path


def _plugin_refs(name: str, value: object) -> tuple[object, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)) or not isinstance(value, (list, tuple)):
        value = [value]
    refs = tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
    for ref in refs:
        if ref is None or (isinstance(ref, str) and not ref.strip()):
            raise ParameterError(name, value, "plugin references: entry-point names, modules, .py paths or objects")
    return refs


_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _is_token(text: str) -> bool:
    return bool(text) and all(ch in _TOKEN_CHARS for ch in text)


def _headers(name: str, value: object) -> tuple[tuple[str, str], ...]:
    allowed = "HTTP headers: a mapping, (name, value) pairs or 'Name: value' strings, without line breaks"
    if value is None:
        return ()
    items: list[object]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ParameterError(name, value, allowed)
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            key, sep, val = item.partition(":")
            if not sep:
                raise ParameterError(name, value, allowed + f" ({mask_value(item)!r} has no ':')")
            item = (key, val)
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(p, str) for p in item)):
            raise ParameterError(name, value, allowed)
        key, val = item[0].strip(), item[1].strip()
        if not _is_token(key):
            raise ParameterError(name, value, allowed + f" ({key!r} is not a valid header name)")
        bad = next((ch for ch in val if not _header_value_char(ch)), None)
        if bad is not None:
            raise ParameterError(name, value, allowed + f" ({key!r} is not a valid header: its value holds {bad!r}; "
                                 "values are Latin-1 text without control characters)")
        if key.lower() in _HANDSHAKE_HEADERS:
            raise ParameterError(name, value, allowed + f" ({key!r} is set by wsdat: "
                                 f"{_HANDSHAKE_HEADERS[key.lower()]})")
        pairs.append((key, val))
    return tuple(pairs)


#: Headers the handshake sets itself, and where to change what they say instead.
_HANDSHAKE_HEADERS: Final = {
    "host": "it comes from netaddress", "upgrade": "it is part of the WebSocket handshake",
    "connection": "it is part of the WebSocket handshake", "sec-websocket-key": "it is part of the handshake",
    "sec-websocket-version": "it is part of the handshake", "sec-websocket-accept": "it is the server's",
    "sec-websocket-protocol": "use the subprotocols parameter", "sec-websocket-extensions": "use compression",
    "content-length": "the upgrade request has no body", "transfer-encoding": "the upgrade request has no body",
}


def _header_value_char(ch: str) -> bool:
    """RFC 9110 field-value characters: visible ASCII, space, tab and obs-text (Latin-1 0x80-0xFF)."""
    code = ord(ch)
    return code == 0x09 or 0x20 <= code <= 0x7E or 0x80 <= code <= 0xFF


def _header_names(name: str, value: object) -> tuple[str, ...]:
    """Header names: a list, or one string of names separated by commas."""
    if value is None:
        return ()
    items = [part for part in value.split(",") if part.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and _is_token(i.strip()) for i in items):
        raise ParameterError(name, value, "header names (HTTP tokens such as 'X-Api-Key'), a list or separated by "
                             "commas")
    return tuple(i.strip() for i in items)


def _subprotocols(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) and _is_token(i.strip()) for i in items):
        raise ParameterError(name, value, "subprotocol names (HTTP tokens such as 'chat' or 'v1.json')")
    return tuple(i.strip() for i in items)


def _pulse_only(name: str, value: object) -> None:
    raise ParameterError(name, value, f"nothing: '{name}' is a pulse, call par.{name}.pulse()")


# -------------------------------------------------------------------------------------------------------------- specs
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
        return self.check is _pulse_only

    @property
    def is_switch(self) -> bool:
        return self.check is _to_bool


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
    ParSpec("active", True, _to_bool, "While on, the DAT connects and receives; while off, arriving data is lost.",
            "Connect", effect=Effect.ACTIVE),
    ParSpec("netaddress", "localhost", _text, "Server address: host, IP, [IPv6], or a ws:// / wss:// URL.",
            "Connect", effect=Effect.RECONNECT, metavar="ADDRESS"),
    ParSpec("port", DEFAULT_PORT, _integer(1, 65535, range_=True), "Server port; 443 implies TLS (wss).", "Connect",
            effect=Effect.RECONNECT, metavar="PORT"),
    ParSpec("timeout", 5000, _integer(1, 86_400_000, unit="milliseconds, at most a day"),
            "Connect timeout in ms, bounding DNS + TCP + TLS + WebSocket handshake.", "Connect",
            effect=Effect.RECONNECT, metavar="MS"),
    # TLS and handshake (wsdat)
    ParSpec("cafile", None, _existing_file, "PEM file of CA certificates to trust instead of the system store.", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("certfile", None, _existing_file, "PEM client certificate (may hold the key too).", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("keyfile", None, _existing_file, "PEM private key of the client certificate.", "TLS",
            effect=Effect.RECONNECT, metavar="FILE", remote=False),
    ParSpec("insecure", False, _to_bool, "Skip TLS certificate and host name checks (warns on every connect).",
            "TLS", effect=Effect.RECONNECT, remote=False),
    ParSpec("headers", (), _headers, "Extra HTTP headers for the handshake ('Name: value').", "TLS",
            effect=Effect.RECONNECT, metavar="K:V", remote=False),
    ParSpec("secretheaders", (), _header_names,
            "Headers whose values are credentials, masked wherever wsdat shows them, as Authorization, "
            "Proxy-Authorization and Cookie always are.", "TLS", metavar="NAME", remote=False),
    ParSpec("subprotocols", (), _subprotocols, "WebSocket subprotocols to offer.", "TLS", effect=Effect.RECONNECT,
            metavar="NAME"),
    ParSpec("compression", "deflate", _choice(COMPRESSION),
            "permessage-deflate (RFC 7692): 'deflate' offers it (sent messages are compressed when the server "
            "agrees), 'off' does not.", "TLS", effect=Effect.RECONNECT, metavar="MODE"),
    ParSpec("proxy", "", check_proxy,
            "Proxy: '' reads wss_proxy/https_proxy, ws_proxy/http_proxy, all_proxy and no_proxy from the "
            "environment; 'off'; or http://[user:pass@]host:port, https://..., socks5://, socks5h://, socks4://.",
            "TLS", effect=Effect.RECONNECT, metavar="URL", remote=False),
    ParSpec("maxredirects", 10, _integer(0, 100, unit="redirects followed"),
            "HTTP redirects (301/302/303/307/308) of the upgrade request followed at most; wss to ws is refused.",
            "TLS", effect=Effect.RECONNECT, metavar="N"),
    # Received Messages page (TD)
    ParSpec("callbacks", (), _plugin_refs,
            "Callbacks plugins: entry-point names, module[:attr], .py files or objects.", "Received Messages",
            effect=Effect.HOST, metavar="REF"),
    ParSpec("executeloc", "current", _choice(EXECUTE_FROM),
            "Execute from: what hooks get as 'me' (current DAT, callbacks plugin, or fromop).", "Received Messages",
            effect=Effect.HOST, metavar="WHERE"),
    ParSpec("fromop", "", _text, "The object used as 'me' when executeloc is 'op' (module:attr or a DAT name).",
            "Received Messages", effect=Effect.HOST, metavar="REF"),
    ParSpec("reloadcallbacks", True, _to_bool,
            "Live editing: a .py callbacks file changed on disk is loaded again before the next cook at least 0.5 s "
            "after the change (a broken edit keeps the previous callbacks).", "Received Messages"),
    ParSpec("reload", None, _pulse_only, "Pulse: load the .py callbacks files again now.", "Received Messages",
            effect=Effect.RELOAD),
    ParSpec("reloadtimeout", 5.0, _number(0, lo_inclusive=False, unit="seconds"),
            "Most seconds a .py callbacks file's module-level code may run when it is loaded or reloaded; longer is "
            "a failed load (a failed reload keeps the previous callbacks).", "Received Messages", metavar="S"),
    ParSpec("clamp", True, _to_bool, "Limit the table to maxlines message rows; off: unlimited.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("maxlines", 100, _integer(1), "Maximum message rows kept while clamp is on (oldest removed first).",
            "Received Messages", effect=Effect.TABLE, metavar="N"),
    ParSpec("clear", None, _pulse_only, "Pulse: delete all rows except the heading.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("bytes", False, _to_bool, "Add a 'bytes' column: the raw bytes as hex pairs.", "Received Messages",
            effect=Effect.TABLE),
    ParSpec("maxtablebytes", 256 * MIB, _integer(0, unit="bytes, 0 = no limit"),
            "Memory guard with clamp off: past this many bytes the oldest rows are removed as a clamp would (warned "
            "once).", "Received Messages", effect=Effect.TABLE, metavar="N"),
    ParSpec("binaryrows", False, _to_bool, "Binary messages become rows too (not only onReceiveBinary).",
            "Received Messages"),
    ParSpec("maxmessagesize", 16 * MIB, _integer(1, unit="bytes"),
            "Largest accepted message in bytes (UTF-8 bytes for text, after decompression); a larger one closes the "
            "connection with 1009.", "Received Messages",
            effect=Effect.RECONNECT, metavar="N"),
    # Resilience page (wsdat)
    ParSpec("reconnect", True, _to_bool,
            "Reconnect with exponential backoff and jitter after an unexpected disconnect or failed attempt.",
            "Resilience"),
    ParSpec("reconnectdelay", 1.0, _number(0, lo_inclusive=False, unit="seconds"),
            "First reconnect delay window: the first retry waits a random time below it.", "Resilience",
            metavar="S"),
    ParSpec("reconnectfactor", 1.618, _number(1, lo_inclusive=True, unit="growth per attempt"),
            "Growth factor of the reconnect delay.", "Resilience", metavar="X"),
    ParSpec("reconnectmaxdelay", 60.0, _number(0, lo_inclusive=False, unit="seconds"),
            "Cap of the reconnect delay.", "Resilience", metavar="S"),
    ParSpec("pinginterval", 20.0, _number(0, lo_inclusive=True, unit="seconds, 0 = off"),
            "Keepalive: send a ping after this long; 0 turns keepalive off.", "Resilience", effect=Effect.KEEPALIVE,
            metavar="S"),
    ParSpec("pingtimeout", 20.0, _number(0, lo_inclusive=True, unit="seconds, 0 = do not wait"),
            "Keepalive: a peer that does not answer a ping within this long is declared dead.", "Resilience",
            effect=Effect.KEEPALIVE, metavar="S"),
    ParSpec("autopong", True, _to_bool,
            "Answer each ping with a pong right after onReceivePing, unless a hook answered it with sendPong.",
            "Resilience"),
    # Send page (wsdat)
    ParSpec("sendqueuesize", 1024, _integer(1, unit="messages"),
            "Most messages waiting to be sent; beyond it sendText & co. return -1 and warn, and the awaitable "
            "send_text/send_binary wait.", "Send", effect=Effect.SEND, metavar="N"),
    ParSpec("sendqueuebytes", 16 * MIB, _integer(1, unit="bytes"),
            "Most payload bytes waiting to be sent (one message always fits an empty queue); beyond it as "
            "sendqueuesize.", "Send", effect=Effect.SEND, metavar="N"),
)


#: The parameters that choose the callbacks and their ``me``: loaded (and checked) before a change is committed.
HOST_PARAMS: Final = frozenset(name for name, spec in SPECS.items() if spec.effect is Effect.HOST)
#: The parameters the HTTP API refuses to change besides those: see :attr:`ParSpec.remote`.
PROTECTED_PARAMS: Final = frozenset(name for name, spec in SPECS.items() if not spec.remote)


def _value_of(other: object) -> object:
    return other.eval() if isinstance(other, Par) else other


class Par:
    """One parameter, as TouchDesigner's ``Par`` object: ``dat.par.maxlines`` is a ``Par``.

    It behaves like its value (``==``, ``<``, ``+``, ``int()``, ``str()``, ``bool()``, ``hash``, ``format``,
    ``len`` and iteration for lists), reads with ``.eval()`` / ``.val``, sets with ``.val = 5`` (checked, as
    ``dat.par.maxlines = 5`` is), and describes itself with ``.name``, ``.default``, ``.label``, ``.help``,
    ``.isPulse``; pulse parameters have ``.pulse()``.
    """

    __slots__ = ("_owner", "name")

    def __init__(self, owner: Parameters, name: str) -> None:
        self._owner = owner
        self.name = name

    # -- TouchDesigner's members ----------------------------------------------------------------------------------
    def eval(self) -> Any:
        """The current value."""
        return self._owner.value(self.name)

    @property
    def val(self) -> Any:
        return self._owner.value(self.name)

    @val.setter
    def val(self, value: Any) -> None:
        self._owner.update(**{self.name: value})

    @property
    def default(self) -> Any:
        return self._owner.specs[self.name].default

    @property
    def label(self) -> str:
        return self._owner.specs[self.name].label

    @property
    def help(self) -> str:
        return self._owner.specs[self.name].help

    @property
    def page(self) -> str:
        return self._owner.specs[self.name].page

    @property
    def isPulse(self) -> bool:
        return self._owner.specs[self.name].is_pulse

    def pulse(self) -> None:
        """Fire a pulse parameter (``clear``, ``reload``): every listener hears ``(name, None, None)``."""
        if not self.isPulse:
            raise TypeError(f"par.{self.name} is not a pulse parameter; set it with par.{self.name} = value")
        self._owner._notify(self.name, None, None)

    # -- behaving like the value ----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<pulse par.{self.name}>" if self.isPulse else f"<Par {self.name}={self.eval()!r}>"

    def __str__(self) -> str:
        return "" if self.isPulse else str(self.eval())

    def __format__(self, spec: str) -> str:
        return format(self.eval(), spec)

    def __bool__(self) -> bool:
        return bool(self.eval())

    def __int__(self) -> int:
        return int(self.eval())

    def __float__(self) -> float:
        return float(self.eval())

    def __index__(self) -> int:
        value = self.eval()
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"par.{self.name} is not an integer parameter")
        return value

    def __hash__(self) -> int:
        return hash(self.eval())

    def __eq__(self, other: object) -> bool:
        return bool(self.eval() == _value_of(other))

    def __ne__(self, other: object) -> bool:
        return bool(self.eval() != _value_of(other))

    def __lt__(self, other: object) -> Any:
        return self.eval() < _value_of(other)

    def __le__(self, other: object) -> Any:
        return self.eval() <= _value_of(other)

    def __gt__(self, other: object) -> Any:
        return self.eval() > _value_of(other)

    def __ge__(self, other: object) -> Any:
        return self.eval() >= _value_of(other)

    def __add__(self, other: object) -> Any:
        return self.eval() + _value_of(other)

    def __radd__(self, other: object) -> Any:
        return _value_of(other) + self.eval()

    def __sub__(self, other: object) -> Any:
        return self.eval() - _value_of(other)

    def __rsub__(self, other: object) -> Any:
        return _value_of(other) - self.eval()

    def __mul__(self, other: object) -> Any:
        return self.eval() * _value_of(other)

    def __rmul__(self, other: object) -> Any:
        return _value_of(other) * self.eval()

    def __truediv__(self, other: object) -> Any:
        return self.eval() / _value_of(other)

    def __rtruediv__(self, other: object) -> Any:
        return _value_of(other) / self.eval()

    def __floordiv__(self, other: object) -> Any:
        return self.eval() // _value_of(other)

    def __mod__(self, other: object) -> Any:
        return self.eval() % _value_of(other)

    def __pow__(self, other: object) -> Any:
        return self.eval() ** _value_of(other)

    def __neg__(self) -> Any:
        return -self.eval()

    def __len__(self) -> int:
        return len(self.eval())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.eval())

    def __contains__(self, item: object) -> bool:
        return item in self.eval()

    def __getitem__(self, index: Any) -> Any:
        return self.eval()[index]


class Parameters:
    """The ``par`` object of a DAT: ``dat.par.maxlines = 10`` sets, ``dat.par.maxlines`` reads.

    >>> par = Parameters(port=8080)
    >>> par.port, par.endpoint.url
    (8080, 'ws://localhost:8080/')
    """

    __slots__ = ("_checks", "_endpoint", "_listeners", "_pars", "_values")
    #: The parameter pages these parameters follow (another kind of DAT, a Web Server DAT, has its own).
    specs: ClassVar[Mapping[str, ParSpec]] = SPECS
    _checks: list[Check]
    _endpoint: Endpoint
    _listeners: list[Listener]
    _pars: dict[str, Par]
    _values: dict[str, Any]

    def __init__(self, **values: Any) -> None:
        specs = self.specs
        object.__setattr__(self, "_values", {name: spec.default for name, spec in specs.items() if not spec.is_pulse})
        object.__setattr__(self, "_pars", {name: Par(self, name) for name in specs})
        object.__setattr__(self, "_listeners", [])
        object.__setattr__(self, "_checks", [])
        object.__setattr__(self, "_endpoint", self._check_together(self._values))
        self.update(**values)

    # -- reading ------------------------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Par:
        try:
            return self._pars[name]
        except KeyError:
            raise AttributeError(_unknown(name, self.specs)) from None

    def __getitem__(self, name: str) -> Par:
        if name not in self.specs:
            raise KeyError(_unknown(name, self.specs))
        return self._pars[name]

    def value(self, name: str) -> Any:
        """The plain value of parameter ``name`` (``dat.par.maxlines.eval()``); None for a pulse."""
        try:
            return self._values[name]
        except KeyError:
            if name in self.specs:
                return None
            raise AttributeError(_unknown(name, self.specs)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def as_dict(self) -> dict[str, Any]:
        """Every parameter's current value (pulses left out)."""
        return dict(self._values)

    @property
    def endpoint(self) -> Endpoint:
        """``netaddress`` + ``port`` resolved by TD's rule (see :mod:`wsdat_core.model.address`)."""
        return self._endpoint

    def _check_together(self, values: Mapping[str, Any]) -> Endpoint:
        """The rules between parameters, checked before a change is committed; returns the :attr:`endpoint`."""
        return _check_together(values)

    def __repr__(self) -> str:
        changed = mask_parameters({k: v for k, v in self._values.items() if v != self.specs[k].default})
        return f"Parameters({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- writing ------------------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        self.update(**{name: value})

    def update(self, **changes: Any) -> None:
        """Set several parameters at once, checked together (e.g. ``executeloc="op", fromop="x"``).

        Either every change is applied or, on a :class:`ParameterError`, none.
        """
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            value = _value_of(value)  # dat.par.fromop = other.par.fromop
            spec = self.specs.get(name)
            if spec is None:
                raise ParameterError(name, value, "a known parameter: " + ", ".join(self.specs))
            checked[name] = spec.check(name, value)
        merged = {**self._values, **checked}
        endpoint = self._check_together(merged)
        changed = frozenset(name for name, value in checked.items() if self._values[name] != value)
        for check in self._checks:
            check(merged, changed)
        old_values = self._values
        object.__setattr__(self, "_values", merged)
        object.__setattr__(self, "_endpoint", endpoint)
        # validate, commit, then notify: every listener hears every change, even when one of them raises (a
        # half-applied change would leave the running DAT out of step with its parameters); the first error is
        # raised once all were told
        errors: list[Exception] = []
        for name, value in checked.items():
            if old_values[name] != value:
                self._notify(name, old_values[name], value, errors)
        if errors:
            raise errors[0]

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(name, old, new)`` after every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def add_check(self, check: Check) -> None:
        """Run ``check(values, changed_names)`` before every change is committed (e.g. loading new callbacks)."""
        self._checks.append(check)

    def _notify(self, name: str, old: Any, new: Any, errors: list[Exception] | None = None) -> None:
        """Tell every listener; with ``errors``, what a listener raises is collected there and the others still hear
        (else the first error is raised once all were told)."""
        collected: list[Exception] = [] if errors is None else errors
        for listener in list(self._listeners):
            try:
                listener(name, old, new)
            except Exception as exc:
                collected.append(exc)
        if errors is None and collected:
            raise collected[0]


def check_execute_from(values: Mapping[str, Any]) -> None:
    """Execute from ``op`` needs ``fromop`` (every kind of DAT)."""
    if values["executeloc"] == "op" and not values["fromop"].strip():
        raise ParameterError("executeloc", "op", "'current' or 'callbacks' unless fromop names an object")


def _check_together(values: Mapping[str, Any]) -> Endpoint:
    check_execute_from(values)
    if values["keyfile"] and not values["certfile"]:
        raise ParameterError("keyfile", values["keyfile"], "a key only together with certfile")
    return resolve_url(values["netaddress"], values["port"])


def parameters_markdown(specs: Mapping[str, ParSpec] = SPECS) -> str:
    """The parameter pages as a Markdown table (used by the docs, so they cannot drift from :data:`SPECS`)."""
    lines = ["| parameter | page | default | meaning |", "|---|---|---|---|"]
    for spec in specs.values():
        default = "pulse" if spec.is_pulse else f"`{spec.default!r}`"
        lines.append(f"| `{spec.name}` | {spec.page} | {default} | {spec.help} |")
    return "\n".join(lines)


def _unknown(name: str, specs: Mapping[str, ParSpec] = SPECS) -> str:
    return f"no parameter named {name!r}; parameters are: {', '.join(specs)}"
