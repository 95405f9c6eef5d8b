"""Service files: several DATs, each with its parameters and callbacks, run in one trio nursery.

::

    [service]
    name = "studio"                      # optional, used in status lines

    [dat.feed]                           # one table per DAT; the key is the DAT's name
    netaddress = "ws://localhost:8765/feed"
    maxlines = 500
    callbacks = ["callbacks.py"]         # .py paths are relative to the service file

    [dat.feed.plugins.record]            # settings of a plugin for this DAT: dat.pluginSettings("record")
    dir = "/var/lib/wsdat"

    [dat.control]
    netaddress = "wss://example.com/control"
    executeloc = "op"
    fromop = "feed"                      # fromop may name another DAT of the same service

Every key of a ``[dat.NAME]`` table is a DAT parameter with TD's name, except ``plugins``: its sub-tables hold the
settings of installed plugins (or of plugins named in ``callbacks``). A bad file raises
:class:`~wsdat_core.errors.ServiceFileError` with one line naming the file, the line, the key and what is allowed.
"""

from __future__ import annotations

import logging
import re
import signal
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from .callbacks import settings_names
from .console import log
from .errors import ParameterError, PluginError, ServiceFileError
from .params import SPECS, Parameters

__all__ = ["DATConfig", "Service", "load_service", "run_service"]

_SERVICE_KEYS = {"name"}
_DEFERRED = ("executeloc", "fromop")  # applied once every DAT exists, so fromop can name any of them
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")


@dataclass
class DATConfig:
    name: str
    params: dict[str, Any]
    line: int
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Service:
    path: Path
    name: str = "service"
    dats: list[DATConfig] = field(default_factory=list)


def _table_key(header: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"').strip("'") for part in header.split("."))


def _locate(lines: list[str], table: tuple[str, ...], key: str | None = None) -> int:
    """The 1-based line of ``key`` inside ``[table]`` (or of the table header); 0 when not found."""
    current: tuple[str, ...] | None = ()
    header_line = 0
    key_pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=") if key else None
    for number, line in enumerate(lines, 1):
        match = _HEADER.match(line)
        if match:
            current = _table_key(match.group(1))
            if not header_line and current[: len(table)] == table:
                header_line = number
            continue
        if key_pattern and current == table and key_pattern.match(line):
            return number
    return header_line


def _fail(path: Path, line: int, key: str, message: str) -> ServiceFileError:
    where = f"{path}:{line}" if line else str(path)
    return ServiceFileError(f"{where}: {key}: {message}")


def load_service(path: Path) -> Service:
    """Read and check a service file; relative ``.py`` callbacks are made relative to the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServiceFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServiceFileError(f"{path}: not valid TOML: {exc}") from None
    lines = text.splitlines()
    service = Service(path)
    for top, value in data.items():
        if top == "service" and isinstance(value, dict):
            for key in value:
                if key not in _SERVICE_KEYS:
                    raise _fail(path, _locate(lines, ("service",), key), f"service.{key}",
                                f"unknown key; [service] takes: {', '.join(sorted(_SERVICE_KEYS))}")
            service.name = str(value.get("name", service.name))
        elif top == "dat" and isinstance(value, dict):
            for name, params in value.items():
                service.dats.append(_load_dat(path, lines, name, params))
        else:
            raise _fail(path, _locate(lines, (top,), None) or _locate(lines, (), top), top,
                        "unknown table; a service file has [service] and [dat.NAME] tables")
    if not service.dats:
        raise ServiceFileError(f"{path}: dat: no DATs; add at least one [dat.NAME] table")
    return service


def _load_dat(path: Path, lines: list[str], name: str, params: object) -> DATConfig:
    table = ("dat", name)
    line = _locate(lines, table)
    if not isinstance(params, dict):
        raise _fail(path, _locate(lines, ("dat",), name), f"dat.{name}", "must be a table of parameters")
    checked: dict[str, Any] = {}
    settings = params.pop("plugins", {})
    for key, value in params.items():
        where = _locate(lines, table, key) or line
        spec = SPECS.get(key)
        if spec is None or spec.is_pulse:
            raise _fail(path, where, f"dat.{name}.{key}", "unknown parameter; parameters are: " + ", ".join(
                n for n, s in SPECS.items() if not s.is_pulse))
        if key == "callbacks":
            value = [_relative_to(path, ref) for ref in ([value] if isinstance(value, str) else value)]
        try:
            checked[key] = spec.check(key, value)
        except ParameterError as exc:
            raise _fail(path, where, f"dat.{name}.{key}", f"{exc.value!r} is not allowed; expected {exc.allowed}") \
                from None
    try:  # the rules between parameters (netaddress + port, executeloc + fromop, keyfile + certfile)
        Parameters(**{k: v for k, v in checked.items() if k != "callbacks"})  # callbacks load when the DAT exists
    except ParameterError as exc:
        where = _locate(lines, table, exc.name) or line
        raise _fail(path, where, f"dat.{name}.{exc.name}", f"{exc.value!r} is not allowed; expected {exc.allowed}") \
            from None
    return DATConfig(name, checked, line, _plugin_settings(path, lines, name, settings, checked.get("callbacks", ())))


def _plugin_settings(path: Path, lines: list[str], name: str, settings: object, refs: Any) -> dict[str, dict[str, Any]]:
    table = ("dat", name, "plugins")
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise _fail(path, _locate(lines, table) or _locate(lines, ("dat", name), "plugins"), f"dat.{name}.plugins",
                    "must hold one table per plugin, e.g. [dat.NAME.plugins.record]")
    known = settings_names(refs)
    for plugin in settings:
        if plugin not in known:
            raise _fail(path, _locate(lines, (*table, plugin)), f"dat.{name}.plugins.{plugin}",
                        f"no plugin named {plugin!r}; settings are for: {', '.join(known) or 'none'}")
    return {plugin: dict(values) for plugin, values in settings.items()}


def _relative_to(path: Path, ref: object) -> object:
    if isinstance(ref, str) and ref.endswith(".py") and not Path(ref).is_absolute():
        return str((path.parent / ref).resolve())
    return ref


def build_dats(service: Service) -> list[Any]:
    """The service's DATs, each able to name the others in ``fromop``."""
    from .dat import WebSocketDAT

    namespace: dict[str, object] = {}
    dats = []
    for config in service.dats:
        immediate = {k: v for k, v in config.params.items() if k not in _DEFERRED}
        try:
            dat = WebSocketDAT(config.name, namespace=namespace, settings=config.settings, **immediate)
        except (ParameterError, PluginError) as exc:
            raise ServiceFileError(f"{service.path}:{config.line}: dat.{config.name}: {exc}") from None
        namespace[config.name] = dat
        dats.append(dat)
    for config, dat in zip(service.dats, dats, strict=True):
        deferred = {k: v for k, v in config.params.items() if k in _DEFERRED}
        if deferred:
            try:
                dat.par.update(**deferred)
            except (ParameterError, PluginError) as exc:
                raise ServiceFileError(f"{service.path}:{config.line}: dat.{config.name}: {exc}") from None
    return dats


async def run_service(service: Service) -> int:
    """Run every DAT of ``service`` in one nursery until SIGINT or SIGTERM; returns the exit code (0)."""
    dats = build_dats(service)
    log.log(logging.INFO, "%s: starting %d DAT(s): %s", service.name, len(dats), ", ".join(d.name for d in dats))
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            for dat in dats:
                nursery.start_soon(dat.run)
            async for signum in signals:
                log.info("%s: %s received, stopping", service.name, signal.Signals(signum).name)
                nursery.cancel_scope.cancel()
                break
    return 0
