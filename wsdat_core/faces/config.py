"""Service files: several DATs, each with its parameters and callbacks, run in one trio nursery.

::

    [service]
    name = "studio"                      # optional, used in status lines
    http = "127.0.0.1:9090"              # optional: metrics, health, API and live page (wsdat_core.http)
    http_token = "..."                   # optional (required off loopback): Authorization: Bearer ... for the API
    http_hosts = ["wsdat.example.com"]   # optional: Host names the HTTP side answers to besides this machine's
    watch = true                         # optional: reload when this file changes

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

    [server.page]                        # a Web Server DAT: its parameters (wsdat_core.model.serverparams)
    port = 9980
    callbacks = ["webserver_callbacks.py"]

Every key of a ``[dat.NAME]`` table is a DAT parameter with TD's name, except ``plugins``: its sub-tables hold the
settings of installed plugins (or of plugins named in ``callbacks``). ``[server.NAME]`` tables are Web Server DATs,
with the server's parameters and ``plugins`` the same way; DATs and servers share one namespace of names. A bad file
raises :class:`~wsdat_core.model.errors.ServiceFileError` with one line naming the file, the line, the key and what
is allowed.

:class:`ServiceRunner` runs the DATs, each in a cancel scope of its own (an internal error in one DAT is reported and
that DAT started again; the others go on), serves the HTTP side, stops on SIGINT/SIGTERM and reloads the file on
SIGHUP or ``watch``: unchanged DATs keep their connection and table, changed ones get ``dat.par.update(**changes)``,
removed ones close, added ones start, and a broken file changes nothing.
"""

from __future__ import annotations

import re
import signal
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import trio

from ..host.callbacks import settings_names
from ..http.address import HttpAccess, HttpAddress, check_token, parse_http_address
from ..model.errors import ParameterError, PluginError, ServiceFileError
from ..model.params import SPECS, Parameters, ParSpec
from ..model.sanitize import clean_line
from ..model.secrets import mask_text
from ..model.serverparams import SERVER_SPECS, ServerParameters
from ..runtime.console import log
from .signals import stop_on_signals

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..http.hub import Hub
    from ..runtime.dat import WebSocketDAT
    from ..runtime.webserver import WebServerDAT

    Operator: TypeAlias = WebSocketDAT | WebServerDAT

__all__ = ["DATConfig", "Service", "ServiceRunner", "build_dats", "load_service", "run_service"]

_SERVICE_KEYS = {"name", "http", "http_hosts", "http_open", "http_token", "watch"}
#: The kinds of DAT a service file holds: table name -> the parameter pages and the class that checks them together.
_KINDS: Final[dict[str, tuple[Mapping[str, ParSpec], type[Parameters]]]] = {
    "dat": (SPECS, Parameters), "server": (SERVER_SPECS, ServerParameters)}
_DEFERRED = ("executeloc", "fromop")  # applied once every DAT exists, so fromop can name any of them
_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_TOML_AT = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass
class DATConfig:
    name: str
    params: dict[str, Any]
    line: int
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``dat`` (a WebSocket DAT) or ``server`` (a Web Server DAT).
    kind: str = "dat"

    @property
    def label(self) -> str:
        """``dat.NAME`` or ``server.NAME``, as the file writes its table."""
        return f"{self.kind}.{self.name}"


@dataclass
class Service:
    path: Path
    name: str = "service"
    dats: list[DATConfig] = field(default_factory=list)
    #: ``[service] http``: where the HTTP side listens (None: off).
    http: HttpAddress | None = None
    #: ``[service] http_token``, ``http_open`` and ``http_hosts``: who may use the HTTP side.
    access: HttpAccess = field(default_factory=HttpAccess)
    #: ``[service] watch``: reload when the file changes.
    watch: bool = False


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
        found = _TOML_AT.search(str(exc))
        where = f"{path}:{found.group(1)}" if found else str(path)
        raise ServiceFileError(f"{where}: not valid TOML: {clean_line(str(exc))}") from None
    lines = text.splitlines()
    service = Service(path)
    for top, value in data.items():
        if top == "service" and isinstance(value, dict):
            for key in value:
                if key not in _SERVICE_KEYS:
                    raise _fail(path, _locate(lines, ("service",), key), f"service.{key}",
                                f"unknown key; [service] takes: {', '.join(sorted(_SERVICE_KEYS))}")
            service.name = clean_line(str(value.get("name", service.name)))
            if "http" in value:
                try:
                    service.http = parse_http_address(value["http"])
                except ValueError as exc:
                    raise _fail(path, _locate(lines, ("service",), "http"), "service.http", str(exc)) from None
            for key in ("watch", "http_open"):
                if key in value and not isinstance(value[key], bool):
                    raise _fail(path, _locate(lines, ("service",), key), f"service.{key}",
                                f"{value[key]!r} is not allowed; expected true or false")
            service.watch = value.get("watch", False)
            service.access = _http_access(path, lines, value)
        elif top in _KINDS and isinstance(value, dict):
            for name, params in value.items():
                if any(config.name == name for config in service.dats):
                    raise _fail(path, _locate(lines, (top, name)), f"{top}.{name}", "another DAT or server has this "
                                "name; DATs and servers share names (op() and fromop find them by name)")
                service.dats.append(_load_dat(path, lines, name, params, top))
        else:
            raise _fail(path, _locate(lines, (top,), None) or _locate(lines, (), top), top,
                        "unknown table; a service file has [service], [dat.NAME] and [server.NAME] tables")
    if not service.dats:
        raise ServiceFileError(f"{path}: dat: no DATs; add at least one [dat.NAME] or [server.NAME] table")
    return service


def _http_access(path: Path, lines: list[str], table: dict[str, Any]) -> HttpAccess:
    """``[service] http_token``, ``http_open`` and ``http_hosts``."""
    token = table.get("http_token")
    if token is not None:
        try:
            check_token(token, "service.http_token")
        except ValueError as exc:
            raise ServiceFileError(f"{path}:{_locate(lines, ('service',), 'http_token')}: {exc}") from None
    hosts = table.get("http_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(host, str) and host.strip() for host in hosts):
        raise _fail(path, _locate(lines, ("service",), "http_hosts"), "service.http_hosts",
                    f"{hosts!r} is not allowed; expected a list of host names, e.g. [\"wsdat.example.com\"]")
    return HttpAccess(token, table.get("http_open", False), tuple(hosts))


def _load_dat(path: Path, lines: list[str], name: str, params: object, kind: str = "dat") -> DATConfig:
    table = (kind, name)
    specs, checker = _KINDS[kind]
    line = _locate(lines, table)
    if not isinstance(params, dict):
        raise _fail(path, _locate(lines, (kind,), name), f"{kind}.{name}", "must be a table of parameters")
    checked: dict[str, Any] = {}
    settings = params.pop("plugins", {})
    for key, value in params.items():
        where = _locate(lines, table, key) or line
        spec = specs.get(key)
        if spec is None or spec.is_pulse:
            raise _fail(path, where, f"{kind}.{name}.{key}", "unknown parameter; parameters are: " + ", ".join(
                n for n, s in specs.items() if not s.is_pulse))
        if key == "callbacks":
            refs = [value] if isinstance(value, str) else value
            if not isinstance(refs, list) or not all(isinstance(ref, str) for ref in refs):
                raise _fail(path, where, f"{kind}.{name}.{key}", f"{value!r} is not allowed; expected a plugin "
                            "reference or a list of them (entry-point names, module[:attr] or .py paths)")
            value = [_relative_to(path, ref) for ref in refs]
        elif key == "static" and isinstance(value, str) and value:
            value = str(path.parent / value)  # a folder is relative to the service file, as callbacks files are
        try:
            checked[key] = spec.check(key, value)
        except ParameterError as exc:
            raise _fail(path, where, f"{kind}.{name}.{key}", exc.detail) from None
    try:  # the rules between parameters (netaddress + port, executeloc + fromop, keyfile + certfile, secure ...)
        checker(**{k: v for k, v in checked.items() if k != "callbacks"})  # callbacks load when the DAT exists
    except ParameterError as exc:
        where = _locate(lines, table, exc.name) or line
        raise _fail(path, where, f"{kind}.{name}.{exc.name}", exc.detail) from None
    settings = _plugin_settings(path, lines, table, settings, checked.get("callbacks", ()))
    return DATConfig(name, checked, line, settings, kind)


def _plugin_settings(path: Path, lines: list[str], owner: tuple[str, str], settings: object, refs: Any
                     ) -> dict[str, dict[str, Any]]:
    table = (*owner, "plugins")
    label = ".".join(owner)
    if not isinstance(settings, dict) or not all(isinstance(v, dict) for v in settings.values()):
        raise _fail(path, _locate(lines, table) or _locate(lines, owner, "plugins"), f"{label}.plugins",
                    f"must hold one table per plugin, e.g. [{owner[0]}.NAME.plugins.record]")
    known = settings_names(refs)
    for plugin in settings:
        if plugin not in known:
            raise _fail(path, _locate(lines, (*table, plugin)), f"{label}.plugins.{plugin}",
                        f"no plugin named {plugin!r}; settings are for: {', '.join(known) or 'none'}")
    return {plugin: dict(values) for plugin, values in settings.items()}


def _relative_to(path: Path, ref: object) -> object:
    if isinstance(ref, str) and ref.endswith(".py") and not Path(ref).is_absolute():
        return str((path.parent / ref).resolve())
    return ref


def _build(config: DATConfig, path: Path, namespace: dict[str, object]) -> Operator:
    """A DAT or server of ``config`` (``executeloc`` and ``fromop`` left for :func:`_defer`, once every one
    exists)."""
    from ..runtime.dat import WebSocketDAT
    from ..runtime.webserver import WebServerDAT

    immediate = {k: v for k, v in config.params.items() if k not in _DEFERRED}
    factory: type[WebSocketDAT] | type[WebServerDAT] = WebServerDAT if config.kind == "server" else WebSocketDAT
    try:
        return factory(config.name, namespace=namespace, settings=config.settings, **immediate)
    except (ParameterError, PluginError) as exc:
        raise ServiceFileError(f"{path}:{config.line}: {config.label}: {exc}") from None


def _defer(config: DATConfig, path: Path, dat: Operator) -> None:
    deferred = {k: v for k, v in config.params.items() if k in _DEFERRED}
    if deferred:
        try:
            dat.par.update(**deferred)
        except (ParameterError, PluginError) as exc:
            raise ServiceFileError(f"{path}:{config.line}: {config.label}: {exc}") from None


def build_dats(service: Service, namespace: dict[str, object] | None = None) -> list[Operator]:
    """The service's DATs, each able to name the others in ``fromop`` (they are put in ``namespace``)."""
    namespace = {} if namespace is None else namespace
    dats = []
    for config in service.dats:
        dat = _build(config, service.path, namespace)
        namespace[config.name] = dat
        dats.append(dat)
    for config, dat in zip(service.dats, dats, strict=True):
        _defer(config, service.path, dat)
    return dats


# --------------------------------------------------------------------------------------------------------- running
#: A DAT whose run failed with an internal error is started again after this long, doubling up to the maximum; the
#: delay starts over once a run lasted ``_RESTART_MAX`` seconds.
_RESTART_FIRST: Final = 1.0
_RESTART_MAX: Final = 60.0
#: Stopping: how long the DATs get to close (1001 going away) before everything else is cancelled.
_STOP_TIMEOUT: Final = 3.0
#: How often ``--watch`` looks at the service file.
WATCH_INTERVAL: Final = 0.5


@dataclass
class _Running:
    """One DAT of the running service: its configuration as last loaded, and the scope its run lives in."""

    config: DATConfig
    dat: Operator
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    panel: Any = None


@dataclass
class _Plan:
    """What a reload does, worked out (and every new DAT built) before anything running is touched."""

    service: Service
    added: list[_Running] = field(default_factory=list)
    replaced: list[_Running] = field(default_factory=list)  # plugin settings changed: a new DAT of the same name
    changed: list[tuple[_Running, DATConfig, dict[str, Any]]] = field(default_factory=list)
    removed: list[_Running] = field(default_factory=list)
    unchanged: list[_Running] = field(default_factory=list)


class ServiceRunner:
    """Runs a service's DATs in one nursery, each in a cancel scope of its own, and reloads the service file.

    ``http``: serve metrics, health, the API and the live page there (see :mod:`wsdat_core.http`); ``watch``: reload
    when the file changes. Use as ``await nursery.start(runner.run)``, which returns once every DAT was started and
    the HTTP side listens (:attr:`http_url`); :meth:`stop` ends it; :meth:`reload` re-reads the file.
    """

    def __init__(self, service: Service, *, http: HttpAddress | None = None, watch: bool = False,
                 signals: bool = True, access: HttpAccess | None = None) -> None:
        self.service = service
        self.http = http or service.http
        #: Who may use the HTTP side (the file's ``http_token``, ``http_open`` and ``http_hosts`` unless given).
        self.access = access or service.access
        self._http_from_file = http is None and service.http is not None
        self.watch = watch or service.watch
        self.signals = signals
        self.namespace: dict[str, object] = {}
        self.running: dict[str, _Running] = {}
        self.http_url: str | None = None
        self.hub: Hub | None = None
        self._nursery: trio.Nursery | None = None
        self._stopping = trio.Event()
        self._http_done = trio.Event()
        dats = build_dats(service, self.namespace)
        for config, dat in zip(service.dats, dats, strict=True):
            self.running[config.name] = _Running(config, dat)

    @property
    def dats(self) -> dict[str, Operator]:
        """The running DATs by name."""
        return {name: entry.dat for name, entry in self.running.items()}

    def stop(self) -> None:
        """Stop every DAT (1001 going away, plugins get onExit) and the HTTP side; :meth:`run` then returns."""
        self._stopping.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until :meth:`stop` (or SIGINT/SIGTERM when ``signals``); SIGHUP reloads the service file.

        Raises:
          HttpError: when the HTTP side cannot listen where asked (before any DAT started).
        """
        service = self.service
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self.http is None:
                self._http_done.set()
            else:
                from ..http.hub import Hub
                from ..http.server import serve_http

                self.hub = Hub(service.name)
                self.http_url = await nursery.start(self._serve_http, serve_http, self.hub, self.http, self.access)
                log.info("%s: http: metrics, health, API and live page on %s", service.name, self.http_url)
            log.info("%s: starting %d DAT(s): %s", service.name, len(self.running), ", ".join(self.running))
            for entry in self.running.values():
                self._start(entry)
            await nursery.start(self._handle_signals)
            if self.watch:
                nursery.start_soon(self._watch_file)
            task_status.started()
            await self._stopping.wait()
            if self.hub is not None:
                self.hub.close()  # live pages end their streams, so the HTTP server stops at once
            for entry in self.running.values():
                entry.scope.cancel()
            with trio.move_on_after(_STOP_TIMEOUT):  # every DAT closes with 1001, then the rest stops
                for entry in list(self.running.values()):
                    await entry.done.wait()
                await self._http_done.wait()  # live pages' streams end properly (the server stops by itself)
            nursery.cancel_scope.cancel()

    async def _serve_http(self, serve: Any, *args: Any, task_status: trio.TaskStatus[str]) -> None:
        """The HTTP side; once it listens, an internal error in it is reported and the DATs go on without it."""
        listening = False

        def started(url: str) -> None:
            nonlocal listening
            listening = True
            task_status.started(url)

        try:
            await serve(*args, task_status=_Started(started))
        except Exception as raised:
            if not listening:
                raise
            error = _sole(raised)
            log.error("%s: http: stopped by an internal error (%s: %s); the DATs go on", self.service.name,
                      type(error).__name__, clean_line(str(error)), exc_info=error)
        finally:
            self._http_done.set()

    # -- DATs -------------------------------------------------------------------------------------------------------
    def _start(self, entry: _Running) -> None:
        assert self._nursery is not None
        if self.hub is not None:
            entry.panel = self.hub.add(entry.dat)
        self._nursery.start_soon(self._run_dat, entry, name=f"wsdat service DAT {entry.dat.name}")

    async def _run_dat(self, entry: _Running) -> None:
        """One DAT's run, so that an internal error in it never takes the service (or another DAT) down: it is
        reported in one line and the DAT is started again after a delay (1 s, doubling up to 60 s). A setting that
        cannot work (a plugin refusing its settings with a ParameterError) stops only that DAT, with one line: starting
        it again would fail the same way, so it waits for the service file to be fixed and reloaded."""
        with entry.scope:
            try:
                delay = _RESTART_FIRST
                while True:
                    started = trio.current_time()
                    try:
                        await self._run_once(entry)
                        return
                    except Exception as raised:  # isolation is the point: report it, restart the DAT
                        if isinstance(_sole(raised), (ParameterError, PluginError)):
                            self._refused(entry, _sole(raised))
                            return
                        if trio.current_time() - started >= _RESTART_MAX:
                            delay = _RESTART_FIRST
                        self._failed(entry, _sole(raised), delay)
                    await trio.sleep(delay)
                    delay = min(delay * 2, _RESTART_MAX)
                    if self.hub is not None:
                        self.hub.set_failure(entry.dat.name, None)
            finally:
                entry.done.set()

    async def _run_once(self, entry: _Running) -> None:
        async with trio.open_nursery() as nursery:
            if self.hub is not None and entry.panel is not None:
                await nursery.start(self.hub.consume, entry.panel)  # subscribed before the DAT runs: nothing missed
            await entry.dat.run()
            nursery.cancel_scope.cancel()

    def _failed(self, entry: _Running, error: BaseException, delay: float) -> None:
        self._report(entry, f"stopped by an internal error ({type(error).__name__}: {error}); "
                            f"starting again in {delay:g} s")
        log.debug("%s: the traceback of that error", entry.dat.name, exc_info=error)  # at -vv only

    def _refused(self, entry: _Running, error: BaseException) -> None:
        self._report(entry, f"stopped: {error}; fix {self.service.path} (a reload starts it again)")

    def _report(self, entry: _Running, line: str) -> None:
        dat = entry.dat
        line = clean_line(mask_text(line))
        dat.last_error = line
        if self.hub is not None:
            self.hub.set_failure(dat.name, line)
        log.error("%s: %s", dat.name, line)

    # -- signals and reloading ------------------------------------------------------------------------------------
    async def _handle_signals(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """SIGHUP reloads; SIGINT/SIGTERM stop (when ``signals``; the CLI handles those itself, see
        :func:`run_service`)."""
        wanted = [signal.SIGINT, signal.SIGTERM] if self.signals else []
        hup = getattr(signal, "SIGHUP", None)
        if hup is not None:
            wanted.append(hup)
        if not wanted:
            task_status.started()
            return
        with trio.open_signal_receiver(*wanted) as signals:
            task_status.started()
            async for signum in signals:
                if signum == hup:
                    log.info("%s: SIGHUP received, reloading %s", self.service.name, self.service.path)
                    self.reload()
                    continue
                log.info("%s: %s received, stopping", self.service.name, signal.Signals(signum).name)
                self.stop()
                return

    async def _watch_file(self) -> None:
        path = self.service.path
        seen = _stamp(path)
        while True:
            await trio.sleep(WATCH_INTERVAL)
            stamp = _stamp(path)
            if stamp is None or stamp == seen:
                continue  # missing for a moment while an editor saves: wait for it
            await trio.sleep(WATCH_INTERVAL / 5)
            if _stamp(path) != stamp:
                continue  # still being written
            seen = stamp
            log.info("%s: %s changed, reloading", self.service.name, path)
            self.reload()

    def reload(self) -> bool:
        """Read the service file again and apply the difference: unchanged DATs keep their connection and table;
        changed ones get the changed parameters (as ``dat.par.update`` does; a change of plugin settings starts a new
        DAT of that name); removed ones close (1001); added ones start. A broken file changes nothing: one line with
        file:line is logged and False returned."""
        saved = dict(self.namespace)
        try:
            plan = self._plan(load_service(self.service.path))
            self._apply(plan)
        except ServiceFileError as exc:
            self.namespace.clear()
            self.namespace.update(saved)
            log.error("%s: reload failed, the service runs on unchanged: %s", self.service.name, exc)
            return False
        self._commit(plan)
        return True

    def _plan(self, service: Service) -> _Plan:
        """Sorts the DATs and builds the new ones (put in the namespace, so ``fromop`` may name them)."""
        plan = _Plan(service)
        configs = {config.name: config for config in service.dats}
        plan.removed = [entry for name, entry in self.running.items() if name not in configs]
        for config in service.dats:
            current = self.running.get(config.name)
            if current is None or current.config.settings != config.settings or current.config.kind != config.kind:
                fresh = _Running(config, _build(config, service.path, self.namespace))
                self.namespace[config.name] = fresh.dat
                (plan.added if current is None else plan.replaced).append(fresh)
                continue
            old = current.config.params
            changes = {k: v for k, v in config.params.items() if k not in old or old[k] != v}
            changes.update({k: current.dat.par.specs[k].default for k in old if k not in config.params})
            if changes:
                plan.changed.append((current, config, changes))
            else:
                plan.unchanged.append(current)
        for fresh in (*plan.added, *plan.replaced):
            _defer(fresh.config, service.path, fresh.dat)
        return plan

    def _apply(self, plan: _Plan) -> None:
        """Parameter changes, each DAT's all or none; when one is refused, those applied are undone."""
        done: list[tuple[_Running, dict[str, Any]]] = []
        for entry, config, changes in plan.changed:
            current = entry.dat.par.as_dict()
            before = {name: current[name] for name in changes}
            try:
                entry.dat.par.update(**changes)
            except (ParameterError, PluginError) as exc:
                for undo, values in reversed(done):
                    undo.dat.par.update(**values)
                raise ServiceFileError(f"{plan.service.path}:{config.line}: {config.label}: {exc}") from None
            done.append((entry, before))

    def _commit(self, plan: _Plan) -> None:
        service, before = plan.service, self.service
        for entry in (*plan.removed, *(self.running[fresh.config.name] for fresh in plan.replaced)):
            entry.scope.cancel()  # 1001 going away, onExit
            if self.hub is not None:
                self.hub.remove(entry.config.name)
            del self.running[entry.config.name]
        for entry in plan.removed:
            self.namespace.pop(entry.config.name, None)
        for entry, config, _changes in plan.changed:
            entry.config = config
        for entry in plan.unchanged:
            entry.config = next(c for c in service.dats if c.name == entry.config.name)  # its line may have moved
        restarted = [entry for entry in self.running.values() if entry.done.is_set()]
        for entry in restarted:  # its run ended (a plugin called dat.stop()): the reload starts it again
            entry.scope, entry.done = trio.CancelScope(), trio.Event()
            self._start(entry)
        for fresh in (*plan.added, *plan.replaced):
            self.running[fresh.config.name] = fresh
            self._start(fresh)
        self.service = service
        if self.hub is not None:
            self.hub.rename(service.name)
        if service.http != before.http and self._http_from_file:
            log.warning("%s: http: a new address takes effect when the service starts again", service.name)
        if service.access != before.access:
            log.warning("%s: http: new http_token, http_open or http_hosts take effect when the service starts again",
                        service.name)
        parts = [f"{len(plan.unchanged)} unchanged"]
        parts += [f"{what} {', '.join(names)}" for what, names in (
            ("changed", [f"{e.config.name} ({', '.join(sorted(c))})" for e, _cfg, c in plan.changed]),
            ("restarted", [f.config.name for f in plan.replaced]),
            ("started again", [e.config.name for e in restarted]),
            ("added", [f.config.name for f in plan.added]),
            ("removed", [e.config.name for e in plan.removed])) if names]
        log.info("%s: reloaded: %s", service.name, "; ".join(parts))


def _sole(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


async def run_service(service: Service, *, http: HttpAddress | None = None, watch: bool = False,
                      access: HttpAccess | None = None) -> int:
    """Run every DAT of ``service`` until SIGINT or SIGTERM (SIGHUP reloads the file); returns the exit code (0).

    ``http`` (or the file's ``[service] http``) serves metrics, health, the API and the live page to whom ``access``
    (or the file's ``http_token``, ...) lets in; ``watch`` (or ``[service] watch``) reloads when the file changes.
    """
    runner = ServiceRunner(service, http=http, watch=watch, signals=False, access=access)
    token = trio.lowlevel.current_trio_token()

    def stop(signum: int) -> None:  # from the signal handler: flags and the trio token only
        for dat in runner.dats.values():
            dat.stop()  # cooking stops after the message in hand, even under a slow plain callback
        token.run_sync_soon(_stopping, runner, signal.Signals(signum).name)

    with stop_on_signals(stop):  # a second SIGINT/SIGTERM ends the process at once, naming the running callback
        await runner.run()
    return 0


def _stopping(runner: ServiceRunner, signal_name: str) -> None:
    log.info("%s: %s received, stopping", runner.service.name, signal_name)
    runner.stop()


class _Started:
    """A task status that tells its owner when the task started."""

    def __init__(self, started: Any) -> None:
        self._started = started

    def started(self, value: Any = None) -> None:
        self._started(value)
