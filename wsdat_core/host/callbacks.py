"""The plugin host: what TouchDesigner calls the Callbacks DAT, with pluggy underneath.

A DAT's ``callbacks`` parameter lists plugin references. Each may be

* an entry-point name from group ``wsdat`` (a pip-installed plugin package),
* a path to a ``.py`` file (a TouchDesigner callbacks file works unchanged),
* ``module`` or ``module:attribute`` (importable Python),
* a Python object: a module, an instance, or a class (instantiated without arguments).

On any plugin object, functions marked with :data:`~.hookspecs.hookimpl` are hooks, and so is any unmarked
function or method named like a hook (``onReceiveText`` ...). Marked functions and packaged plugins get the arguments
they name (pluggy's rule); callbacks files and objects are called as TouchDesigner calls them, by position, unless
every parameter is named like an argument (see :mod:`wsdat_core.host.calling`).

*Execute from* (``executeloc``) decides what a hook gets as ``me``: the DAT (``current``), the plugin object the hook
belongs to (``callbacks``), or the object named by ``fromop`` (``op``), resolved once when the parameters are set.

Hooks are called one by one, not through pluggy's chained call, so that a hook that raises is reported and the next
one still runs. ``async def`` hooks are not awaited here: :meth:`CallbackHost.call` returns them as
:class:`PendingCall` objects for the runtime to run in its nursery. The hooks and their arguments come from the
hookspec module the host is given (``specs``). Pure: no trio, no sockets.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import logging
import threading
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from ..model.errors import PluginError
from . import hookspecs, serverspecs
from .calling import (
    DISPATCH_FILENAME,
    NOTHING_PENDING,
    Dispatch,
    ErrorReporter,
    Impl,
    PendingCall,
    RunDispatch,
    arity_failure,
    call_style,
    make_adapter,
    make_dispatcher,
    make_run_dispatcher,
    running_callback,
)
from .edits import EditCheck, EditWatch
from .hookspecs import PROJECT
from .loading import (
    DEFAULT_LOAD_BUDGET,
    ENTRY_POINT_GROUP,
    file_stamp,
    load_plugin,
    load_reference,
    looks_like_path,
    parse_setting_value,
    ref_key,
    resolve_fromop,
    settings_names,
)
from .loading import load_file as _load_file  # noqa: F401 - its earlier import path
from .reporting import hook_error_line
from .tdglobals import td_globals, unknown_op_names

__all__ = [
    "DISPATCH_FILENAME",
    "ENTRY_POINT_GROUP",
    "CallbackHost",
    "Configuration",
    "ErrorReporter",
    "PendingCall",
    "Plugin",
    "PluginInfo",
    "WsdatPluginManager",
    "file_stamp",
    "list_plugins",
    "load_plugin",
    "parse_setting_value",
    "resolve_fromop",
    "running_callback",
    "settings_names",
    "spec_arguments",
]


def spec_arguments(specs: types.ModuleType) -> dict[str, tuple[str, ...]]:
    """Every hook of the hookspec module ``specs`` with its argument names (``me``, the DAT, the rest), in the order of
    the module's ``HOOK_NAMES`` if it has one, else as it defines them."""
    marker = f"{PROJECT}_spec"
    found = {name: tuple(inspect.signature(function).parameters) for name, function in vars(specs).items()
             if inspect.isfunction(function) and hasattr(function, marker)}
    order = getattr(specs, "HOOK_NAMES", ())  # the module's own order of its hooks, if it gives one
    return {name: found[name] for name in sorted(found, key=lambda name: (name not in order, order.index(name)
                                                                          if name in order else 0))}


#: The hookspec modules of the kinds of DAT: the WebSocket DAT's and the Web Server DAT's.
SPEC_MODULES: tuple[types.ModuleType, ...] = (hookspecs, serverspecs)
_EVERY_HOOK = frozenset(name for module in SPEC_MODULES for name in spec_arguments(module))


class WsdatPluginManager(pluggy.PluginManager):
    """A pluggy manager for the hooks of ``specs`` that also takes unmarked functions named like a hook, except on
    the plugins in :attr:`called_by_position` (the host calls those itself, as TouchDesigner does). Hooks of the other
    kind of DAT are left alone, so one plugin object may serve both."""

    def __init__(self, specs: types.ModuleType = hookspecs) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(specs)
        self.hook_names = tuple(spec_arguments(specs))
        self.called_by_position: set[int] = set()

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if name in _EVERY_HOOK and name not in self.hook_names:
            return None  # a hook of the other kind of DAT
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in self.hook_names and id(plugin) not in self.called_by_position:
            attr = getattr(plugin, name, None)
            if inspect.isfunction(attr) or inspect.ismethod(attr):
                opts = pluggy.HookimplOpts(wrapper=False, hookwrapper=False, optionalhook=False, tryfirst=False,
                                           trylast=False, specname=None)
        return opts


def _check_named(name: str, obj: object, manager: WsdatPluginManager,
                 arguments: Mapping[str, tuple[str, ...]]) -> None:
    """The hooks pluggy will match by name must name only arguments of their hook, and not be wrappers: else one
    line saying which (before pluggy says it in its own words)."""
    for attribute in dir(obj):
        try:
            opts = manager.parse_hookimpl_opts(obj, attribute)
        except Exception:  # an attribute that cannot be read is no hook
            continue
        if opts is None or opts.get("optionalhook"):
            continue
        hook = opts.get("specname") or attribute
        if opts.get("hookwrapper") or opts.get("wrapper"):
            raise PluginError(f"callbacks: {name}.{hook}: hook wrappers are not supported")
        if hook not in arguments:
            raise PluginError(f"callbacks: {name}: {attribute} is marked as a hook, but no hook is named {hook!r} "
                              f"(hooks: {', '.join(arguments)})")
        function = getattr(obj, attribute)
        parameters = inspect.signature(function).parameters
        unknown = [p.name for p in parameters.values() if p.name not in arguments[hook] and p.default is p.empty
                   and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if unknown:
            raise PluginError(
                f"callbacks: {name}: {attribute}({', '.join(parameters)}) takes {', '.join(map(repr, unknown))}, "
                f"not an argument of {hook} ({', '.join(arguments[hook])}); hooks marked @hookimpl and hooks of "
                "packaged plugins get their arguments by name")


@dataclass(frozen=True, slots=True)
class Plugin:
    """A loaded callbacks plugin: the name it is known by, the object whose hooks run, and for a ``.py`` file its
    path (watched for live editing) and the ``(mtime, size)`` it had when loaded. ``packaged``: an entry point (its
    hooks are matched by name only)."""

    name: str
    obj: object
    path: str | None = None
    stamp: tuple[int, int] | None = None
    packaged: bool = False


@dataclass(frozen=True, slots=True)
class Configuration:
    """Plugins loaded and checked by :meth:`CallbackHost.prepare`, not yet running."""

    manager: WsdatPluginManager
    calls: dict[str, tuple[Impl, ...]]
    dispatch: dict[str, Dispatch]
    loaded: dict[object, tuple[object, Plugin]]
    added: list[Plugin]
    removed: list[Plugin]
    #: ``me`` globals of callbacks files to update on commit (Execute from changed).
    me_updates: tuple[tuple[types.ModuleType, object], ...] = ()


@dataclass(slots=True)
class CallbackHost:
    """The callbacks of one DAT: a pluggy manager holding its plugins and the calls in order.

    ``dat`` is passed as the DAT argument and is ``me`` for Execute-from ``current``. A plugin keeps its object
    across configurations while its reference stays listed (so a changed ``callbacks`` list starts only the plugins
    it adds and stops only those it removes). ``specs`` is the hookspec module; ``load_budget()`` the seconds a
    callbacks file's module-level code may run.
    """

    dat: object
    report: ErrorReporter
    namespace: Mapping[str, object] | None = None
    specs: types.ModuleType = hookspecs
    load_budget: Callable[[], float] = lambda: DEFAULT_LOAD_BUDGET
    manager: WsdatPluginManager = field(default_factory=WsdatPluginManager)
    #: Live editing of the ``.py`` files (see :meth:`check_edits`).
    edits: EditWatch = field(default_factory=EditWatch)
    _calls: dict[str, tuple[Impl, ...]] = field(default_factory=dict)
    _dispatch: dict[str, Dispatch] = field(default_factory=dict)
    _run_dispatch: dict[str, RunDispatch | None] = field(default_factory=dict)
    _loaded: dict[object, tuple[object, Plugin]] = field(default_factory=dict)
    _arguments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _thread: threading.local = field(default_factory=threading.local)  # a load's debug() sink, per thread

    def __post_init__(self) -> None:
        self._arguments = spec_arguments(self.specs)

    @property
    def plugins(self) -> list[Plugin]:
        """The loaded plugins, in the order listed."""
        return [plugin for _, plugin in self._loaded.values()]

    def configure(self, refs: Sequence[object], executeloc: str = "current", fromop: str = "",
                  reload: Iterable[object] = ()) -> tuple[list[Plugin], list[Plugin]]:
        """Load ``refs`` and decide ``me`` (:meth:`prepare` then :meth:`commit`); returns ``(added, removed)``."""
        return self.commit(self.prepare(refs, executeloc, fromop, reload))

    # -- loading ----------------------------------------------------------------------------------------------------
    def load_files(self, paths: Iterable[str], executeloc: str, fromop: str, budget: float,
                   debug: Callable[[str], None] | None = None) -> dict[object, Plugin]:
        """Load the callbacks files ``paths`` for :meth:`prepare`'s ``preloaded``, each within ``budget`` seconds;
        ``debug(line)`` takes their module-level ``debug()`` lines. Touches nothing that runs: safe in a worker
        thread."""
        fromop_object = resolve_fromop(fromop, self.namespace) if executeloc == "op" else None
        self._thread.sink = debug
        try:
            return {ref_key(path): self._load(path, executeloc, fromop_object, budget) for path in paths}
        finally:
            self._thread.sink = None

    def _load(self, ref: object, executeloc: str, fromop_object: object, budget: float) -> Plugin:
        key = ref_key(ref)
        stamp = file_stamp(key) if isinstance(key, str) and looks_like_path(key) else None
        loaded = load_reference(ref, lambda module: self._give_globals(module, executeloc, fromop_object), budget)
        return Plugin(loaded.name, loaded.obj, loaded.name if stamp else None, stamp, loaded.packaged)

    def prepare(self, refs: Sequence[object], executeloc: str = "current", fromop: str = "",
                reload: Iterable[object] = (), preloaded: Mapping[object, Plugin] | None = None) -> Configuration:
        """Load ``refs`` and decide ``me`` without changing what runs; raises on any error.

        References listed before keep their plugin object, except keys in ``reload`` (loaded again, or taken from
        ``preloaded``: the old object counts as removed, the new one as added).
        """
        fromop_object = resolve_fromop(fromop, self.namespace) if executeloc == "op" else None
        reloading = {ref_key(ref) for ref in reload}
        budget = self.load_budget()
        loaded: dict[object, tuple[object, Plugin]] = {}
        for ref in refs:
            key = ref_key(ref)
            if key in loaded:
                continue
            previous = self._loaded.get(key)
            if previous is not None and key not in reloading:
                loaded[key] = previous
            elif preloaded is not None and key in preloaded:
                loaded[key] = (ref, preloaded[key])
            else:
                loaded[key] = (ref, self._load(ref, executeloc, fromop_object, budget))
        plugins: dict[int, Plugin] = {}
        for _, plugin in loaded.values():
            plugins.setdefault(id(plugin.obj), plugin)
        listed = list(plugins.values())
        manager = self._register(listed)
        calls = {hook: tuple(self._impls(hook, manager, listed, executeloc, fromop_object))
                 for hook in self._arguments}
        before = {id(plugin.obj): plugin for _, plugin in self._loaded.values()}
        added = [plugin for key, plugin in plugins.items() if key not in before]
        removed = [plugin for key, plugin in before.items() if key not in plugins]
        dispatch = {hook: make_dispatcher(hook, impls, self.dat, self.report, self._arguments[hook])
                    for hook, impls in calls.items() if impls}
        pending_me: list[tuple[types.ModuleType, object]] = []
        for plugin in listed:  # files loaded before: their `me` follows Execute from
            if plugin.path is not None and isinstance(plugin.obj, types.ModuleType):
                me = self._me(executeloc, plugin.obj, fromop_object)
                if plugin.obj.__dict__.get("me") is not me:
                    pending_me.append((plugin.obj, me))
        return Configuration(manager, calls, dispatch, loaded, added, removed, tuple(pending_me))

    def _register(self, listed: Sequence[Plugin]) -> WsdatPluginManager:
        """A pluggy manager holding ``listed`` (their hooks matched by name); one clear line when one does not fit."""
        manager = WsdatPluginManager(self.specs)
        manager.called_by_position.update(id(plugin.obj) for plugin in listed if not plugin.packaged)
        # pluggy calls the plugin registered last first; register backwards so hooks run in the order listed.
        for index, plugin in reversed(list(enumerate(listed))):
            name, obj = plugin.name, plugin.obj
            _check_named(name, obj, manager, self._arguments)
            try:
                registered = manager.register(obj, name=name if not manager.has_plugin(name) else f"{name}#{index}")
                manager.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PluginError(f"callbacks: {name!r} cannot be used: {first}") from exc
            if not manager.get_hookcallers(obj) and not self._unmarked_hooks(plugin, manager):
                raise PluginError(f"callbacks: {name!r} ({type(obj).__name__} {registered}) implements none of "
                                  f"the hooks ({', '.join(self._arguments)})")
        return manager

    def _unmarked_hooks(self, plugin: Plugin, manager: WsdatPluginManager) -> dict[str, Callable[..., Any]]:
        """The hooks of ``plugin`` the host calls itself (TouchDesigner's way): unmarked functions named like a
        hook, on callbacks files and objects."""
        if plugin.packaged:
            return {}
        found: dict[str, Callable[..., Any]] = {}
        for hook in self._arguments:
            attr = getattr(plugin.obj, hook, None)
            if (inspect.isfunction(attr) or inspect.ismethod(attr)) and \
                    pluggy.PluginManager.parse_hookimpl_opts(manager, plugin.obj, hook) is None:
                found[hook] = attr
        return found

    def _impls(self, hook: str, manager: WsdatPluginManager, listed: Sequence[Plugin], executeloc: str,
               fromop_object: object) -> list[Impl]:
        """The implementations of ``hook`` in call order: pluggy's (listed order, ``tryfirst``/``trylast``), with
        the unmarked hooks of callbacks files and objects at their plugin's place among the plain ones."""
        arguments = self._arguments[hook]
        index_of = {id(plugin.obj): index for index, plugin in enumerate(listed)}
        caller: pluggy.HookCaller = getattr(manager.hook, hook)
        ordered: list[tuple[Impl, int, bool, bool]] = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy keeps them in reverse call order
            me = self._me(executeloc, impl.plugin, fromop_object)
            ordered.append((Impl(make_adapter(impl.function, impl.argnames, arguments), impl.plugin_name,
                                 impl.plugin, me, inspect.iscoroutinefunction(impl.function), impl.function,
                                 tuple(impl.argnames)), index_of.get(id(impl.plugin), -1), impl.tryfirst,
                            impl.trylast))
        for index, plugin in enumerate(listed):
            function = self._unmarked_hooks(plugin, manager).get(hook)
            if function is None:
                continue
            style = call_style(hook, function, arguments)
            is_async = style.kind != "unfit" and inspect.iscoroutinefunction(function)
            called = arity_failure(function, style.problem) if style.kind == "unfit" else function
            unmarked = Impl(make_adapter(called, style.argnames, arguments), plugin.name, plugin.obj,
                            self._me(executeloc, plugin.obj, fromop_object), is_async, called, style.argnames)
            at = next((i for i, (_, other, first, last) in enumerate(ordered) if last or (not first and other > index)),
                      len(ordered))
            ordered.insert(at, (unmarked, index, False, False))
        return [impl for impl, _, _, _ in ordered]

    def commit(self, configuration: Configuration) -> tuple[list[Plugin], list[Plugin]]:
        """Make a prepared configuration the one that runs; returns its ``(added, removed)`` plugins."""
        for module, me in configuration.me_updates:
            module.me = me  # type: ignore[attr-defined]
        self.manager = configuration.manager
        self._calls = configuration.calls
        self._dispatch = configuration.dispatch
        self._run_dispatch = {}
        self._loaded = configuration.loaded
        return configuration.added, configuration.removed

    def _me(self, executeloc: str, plugin: object, fromop_object: object) -> object:
        return {"current": self.dat, "callbacks": plugin, "op": fromop_object}[executeloc]

    def _give_globals(self, module: types.ModuleType, executeloc: str, fromop_object: object) -> None:
        """TouchDesigner's globals for a callbacks file, before its code runs (see :mod:`wsdat_core.host.tdglobals`)."""
        module.__dict__.update(td_globals(self.dat, self.namespace, self._me(executeloc, module, fromop_object),
                                          self._debug))

    def _debug(self, line: str) -> None:
        """A ``debug()`` line: shown like TD's textport, so at WARNING (printed without ``-v``)."""
        sink: Callable[[str], None] | None = getattr(self._thread, "sink", None)
        if sink is not None:
            sink(line)
            return
        monitor = getattr(self.dat, "monitor", None)
        if monitor is not None:
            monitor(f"debug: {line}", logging.WARNING)

    # -- live editing -----------------------------------------------------------------------------------------------
    def check_edits(self) -> EditCheck:
        """The ``.py`` files edited since they were loaded (ready to load again) and the problems newly found with
        them (see :mod:`wsdat_core.host.edits`; ``edits.due()`` says when to look)."""
        return self.edits.look((plugin.path, plugin.stamp) for _, plugin in self._loaded.values()
                               if plugin.path is not None)

    # -- calling ----------------------------------------------------------------------------------------------------
    def error_line(self, hook: str, plugin_name: str, exc: BaseException) -> str:
        """The one line for ``exc`` raised by ``plugin_name``'s ``hook`` (see :mod:`wsdat_core.host.reporting`)."""
        unknown: list[str] = []
        for _, plugin in self._loaded.values():
            if plugin.name == plugin_name and isinstance(plugin.obj, types.ModuleType):
                unknown = unknown_op_names(plugin.obj.__dict__)
        return hook_error_line(hook, plugin_name, exc, unknown)

    def implements(self, hook: str) -> bool:
        """True when at least one plugin implements ``hook``."""
        return bool(self._calls.get(hook))

    def all_plain(self) -> bool:
        """True when no implementation of any hook is ``async def``: whatever a hook does is done when its call
        returns (nothing goes on in the background)."""
        return not any(impl.is_async for impls in self._calls.values() for impl in impls)

    def me_of(self, plugin: Plugin) -> object:
        """What ``plugin``'s hooks get as ``me``."""
        for impls in self._calls.values():
            for impl in impls:
                if impl.plugin is plugin.obj:
                    return impl.me
        return self.dat

    def call(self, hook: str, *args: Any, **kwargs: Any) -> Sequence[PendingCall]:
        """Call every implementation of ``hook`` with the hook's arguments after ``me`` and the DAT (positionally in
        the spec's order, or by name); returns the ``async`` ones still to be awaited.

        An implementation that raises is reported and the next one still runs.
        """
        dispatch = self._dispatch.get(hook)
        if dispatch is None:
            return NOTHING_PENDING
        if kwargs:
            args = (*args, *(kwargs.get(name) for name in self._arguments[hook][2 + len(args):]))
        return dispatch(*args)

    def run_dispatcher(self, hook: str) -> RunDispatch | None:
        """For ``onReceiveText``: the function that appends a whole run of messages to the table's rows and calls the
        hooks after each (see :func:`~wsdat_core.host.calling.make_run_dispatcher`); None when no plugin implements
        it or one implementation is ``async``. Made on first use, once per configuration."""
        if hook not in self._run_dispatch:
            self._run_dispatch[hook] = make_run_dispatcher(hook, self._calls.get(hook, ()), self.dat, self.report,
                                                           self._arguments[hook])
        return self._run_dispatch[hook]

    def dispatcher(self, hook: str) -> Dispatch | None:
        """The function :meth:`call` uses for ``hook`` (positional arguments only), or None when no plugin implements
        it; a hot loop binds it once (it changes when the configuration does)."""
        return self._dispatch.get(hook)

    def callables(self, hook: str) -> list[tuple[str, Callable[..., Any]]]:
        """``(plugin name, function)`` for each implementation of ``hook``, in order: the function takes the hook's
        arguments after ``me`` and the DAT and returns what the implementation returns (a coroutine for an ``async
        def`` one). For hooks whose answer counts, such as the Web Server DAT's ``onHTTPRequest``."""
        return [(impl.plugin_name, functools.partial(impl.adapter, impl.me, self.dat))
                for impl in self._calls.get(hook, ())]

    def call_plugins(self, hook: str, plugins: Iterable[Plugin]) -> Sequence[PendingCall]:
        """Call ``hook`` (one without arguments beyond ``me`` and the DAT) of ``plugins`` only, as :meth:`call`."""
        objects = {id(plugin.obj) for plugin in plugins}
        impls = tuple(impl for impl in self._calls.get(hook, ()) if id(impl.plugin) in objects)
        return self._call(hook, impls) if impls else NOTHING_PENDING

    def _call(self, hook: str, impls: Sequence[Impl]) -> Sequence[PendingCall]:
        pending: list[PendingCall] | None = None
        dat = self.dat
        for impl in impls:
            try:
                if impl.is_async:
                    pending = pending or []
                    pending.append(PendingCall(hook, impl.plugin_name, impl.adapter, (impl.me, dat), self.report))
                else:
                    impl.adapter(impl.me, dat)
            except (Exception, GeneratorExit) as exc:
                self.report(hook, impl.plugin_name, exc)
        return pending or NOTHING_PENDING


# ------------------------------------------------------------------------------------------------- installed plugins
@dataclass(frozen=True, slots=True)
class PluginInfo:
    """An installed plugin (entry point in group ``wsdat``)."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "hooks": list(self.hooks), "error": self.error}


def list_plugins(names: Iterable[str] | None = None) -> list[PluginInfo]:
    """Installed plugins with distribution, version and implemented hooks (a plugin that fails to load is listed
    with its error)."""
    wanted = set(names) if names is not None else None
    found: list[PluginInfo] = []
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or (wanted is not None and ep.name not in wanted):
                continue
            dist_name, version = dist.metadata["Name"], dist.version
            hooks: list[str] = []
            try:
                plugin = ep.load()  # a class is inspected, not instantiated: listing must not open its resources
                for specs in SPEC_MODULES:  # the hooks of either kind of DAT
                    manager = WsdatPluginManager(specs)
                    manager.register(plugin, name=ep.name)
                    implemented = {caller.name for caller in manager.get_hookcallers(plugin) or ()}
                    hooks += [hook for hook in manager.hook_names if hook in implemented and hook not in hooks]
            except Exception as exc:  # a broken plugin must not break the listing
                found.append(PluginInfo(ep.name, dist_name, version, (), f"{type(exc).__name__}: {exc}"))
                continue
            found.append(PluginInfo(ep.name, dist_name, version, tuple(hooks)))
    return sorted(found, key=lambda info: info.name)

