"""The plugin host: what TouchDesigner calls the Callbacks DAT, with pluggy underneath.

A DAT's ``callbacks`` parameter lists plugin references. Each may be

* an entry-point name from group ``wsdat`` (a pip-installed plugin package),
* a path to a ``.py`` file (a TouchDesigner callbacks file works unchanged),
* ``module`` or ``module:attribute`` (importable Python),
* a Python object: a module, an instance, or a class (instantiated without arguments).

On any plugin object, functions marked with :data:`~.hookspecs.hookimpl` are hooks, and so is any unmarked
function or method named like a hook (``onReceiveText`` ...). Implementations may take any subset of a hook's
arguments (see :mod:`wsdat_core.host.hookspecs`).

*Execute from* (``executeloc``) decides what a hook gets as ``me``: the DAT (``current``), the plugin object the hook
belongs to (``callbacks``), or the object named by ``fromop`` (``op``), resolved once when the parameters are set.

Hooks are called one by one, not through pluggy's chained call, so that a hook that raises is reported and the next
one still runs. ``async def`` hooks are not awaited here: :meth:`CallbackHost.call` returns them as
:class:`PendingCall` objects for the runtime to run in its nursery.
Pure: no trio, no sockets.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import traceback
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pluggy

from ..model.errors import ParameterError, PluginError
from . import hookspecs, serverspecs
from .hookspecs import PROJECT
from .tdglobals import td_globals

__all__ = [
    "ENTRY_POINT_GROUP",
    "CallbackHost",
    "Configuration",
    "PendingCall",
    "Plugin",
    "PluginInfo",
    "WsdatPluginManager",
    "list_plugins",
    "load_plugin",
    "parse_setting_value",
    "running_callback",
    "resolve_fromop",
    "settings_names",
]

ENTRY_POINT_GROUP: Final = PROJECT

ErrorReporter = Callable[[str, str, BaseException], None]
"""Called as ``report(hook_name, plugin_name, exception)`` when a hook raised."""


#: The hookspec modules of the kinds of DAT: the WebSocket DAT's and the Web Server DAT's.
SPEC_MODULES: Final = (hookspecs, serverspecs)
_EVERY_HOOK: Final = frozenset(name for module in SPEC_MODULES for name in module.HOOK_NAMES)


class WsdatPluginManager(pluggy.PluginManager):
    """A pluggy manager for the ``wsdat`` hooks of one kind of DAT (``specs``: the hookspec module, the WebSocket
    DAT's by default) that also takes unmarked functions named like a hook."""

    def __init__(self, specs: types.ModuleType = hookspecs) -> None:
        super().__init__(PROJECT)
        self.specs = specs
        self.hook_names: tuple[str, ...] = specs.HOOK_NAMES
        self.add_hookspecs(specs)

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        if name in _EVERY_HOOK and name not in self.hook_names:
            return None  # a hook of the other kind of DAT: one plugin object may serve both
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in self.hook_names:
            attr = getattr(plugin, name, None)
            if inspect.isfunction(attr) or inspect.ismethod(attr):
                opts = pluggy.HookimplOpts(wrapper=False, hookwrapper=False, optionalhook=False, tryfirst=False,
                                           trylast=False, specname=None)
        return opts


# ------------------------------------------------------------------------------------------------ loading references
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _instantiate(obj: object, ref: object) -> object:
    if inspect.isclass(obj):
        try:
            return obj()
        except Exception as exc:
            raise PluginError(f"callbacks: cannot instantiate plugin class {ref!r} without arguments: {exc}") from exc
    return obj


ModulePreparer = Callable[[types.ModuleType], None]
"""Called with a callbacks file's new module before its code runs (to put TouchDesigner's globals in it)."""


def _where(exc: BaseException, path: str) -> str:
    """``file:line`` of the line of ``path`` where ``exc`` arose (its last frame in that file)."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{path}:{exc.lineno}"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == path]
    return f"{path}:{frames[-1].lineno}" if frames else path


def _load_file(path: str, prepare: ModulePreparer | None = None) -> types.ModuleType:
    """A ``.py`` callbacks file as a fresh module, compiled from its source each time (no bytecode cache: an edit
    made within the same second is never missed)."""
    full = os.path.abspath(path)
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in os.path.splitext(os.path.basename(full))[0])
    module = types.ModuleType(f"wsdat_callbacks_{stem}_{digest}")
    module.__file__ = full
    try:
        with open(full, "rb") as file:
            source = file.read()
    except OSError as exc:
        raise ParameterError("callbacks", path, f"a readable Python file ({exc.strerror or exc})") from None
    if prepare is not None:
        prepare(module)
    try:
        exec(compile(source, full, "exec"), module.__dict__)
    except Exception as exc:
        raise PluginError(f"callbacks: {_where(exc, full)}: failed to load: {type(exc).__name__}: {exc}") from exc
    return module


def file_stamp(path: str) -> tuple[int, int] | None:
    """``(mtime in ns, size)`` of ``path``, or None when it cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def _import_ref(ref: str) -> object:
    module_name, _, attribute = ref.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise LookupError(module_name) from None
        raise PluginError(f"callbacks: importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:
        raise PluginError(f"callbacks: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    for part in filter(None, attribute.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise LookupError(ref) from None
    return obj


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".py") or os.sep in ref or (os.altsep is not None and os.altsep in ref)


def load_plugin(ref: object, prepare: ModulePreparer | None = None) -> tuple[str, object]:
    """Turn one plugin reference into ``(name, plugin_object)``.

    Raises :class:`ParameterError` (listing installed entry-point names) when nothing matches, and
    :class:`PluginError` when the plugin exists but fails to load.
    """
    if not isinstance(ref, str):
        if isinstance(ref, types.ModuleType):
            return ref.__name__, ref
        name = ref.__name__ if inspect.isclass(ref) else type(ref).__name__
        return f"{name}@{id(ref):x}", _instantiate(ref, ref)
    text = ref.strip()
    entry_points = _entry_points()
    if text in entry_points:
        try:
            loaded = entry_points[text].load()
        except Exception as exc:
            raise PluginError(f"callbacks: plugin {text!r} failed to load: {type(exc).__name__}: {exc}") from exc
        return text, _instantiate(loaded, text)
    if _looks_like_path(text):
        if not os.path.isfile(text):
            raise ParameterError("callbacks", ref, "an existing .py file (no such file)")
        return os.path.abspath(text), _load_file(text, prepare)
    try:
        obj = _import_ref(text)
    except LookupError:
        installed = ", ".join(sorted(entry_points)) or "none installed"
        raise ParameterError(
            "callbacks", ref,
            f"an installed plugin name ({installed}), a module[:attribute] or a .py file") from None
    return text, _instantiate(obj, text)


def settings_names(refs: Iterable[object]) -> list[str]:
    """The plugin names settings may be given for: installed entry points and the text references in ``refs``."""
    return sorted(set(_entry_points()) | {ref.strip() for ref in refs if isinstance(ref, str)})


def parse_setting_value(text: str) -> Any:
    """A setting given as text (``--set PLUGIN.KEY=VALUE``): a TOML value when it reads as one (``5``, ``true``,
    ``"x"``, ``[1, 2]``), else the text itself."""
    try:
        import tomllib

        return tomllib.loads(f"value = {text}")["value"]
    except ValueError:
        return text


def resolve_fromop(ref: str, namespace: Mapping[str, object] | None = None) -> object:
    """Find the object ``fromop`` names: a name in ``namespace`` (e.g. another DAT of a service), or an importable
    ``module`` / ``module:attribute``."""
    text = ref.strip()
    if namespace and text in namespace:
        return namespace[text]
    try:
        return _import_ref(text)
    except (LookupError, PluginError, ValueError):
        known = f"a DAT name ({', '.join(sorted(namespace))}) or " if namespace else ""
        raise ParameterError("fromop", ref, known + "module:attribute naming an existing object") from None


# ----------------------------------------------------------------------------------------------------- calling hooks
@dataclass(frozen=True, slots=True)
class _Impl:
    #: Takes ``(me, dat, *hook arguments)`` in the spec's order and calls the implementation with its own subset.
    adapter: Callable[..., Any]
    plugin_name: str
    plugin: object
    me: object
    is_async: bool
    #: The implementation itself and the names of the arguments it takes.
    function: Callable[..., Any]
    argnames: tuple[str, ...]


Dispatch = Callable[..., Sequence["PendingCall"]]
#: The file name of generated dispatchers: the frame below one of them in a stack is a running callback.
DISPATCH_FILENAME: Final = "<wsdat hook dispatch>"


def running_callback(frame: types.FrameType | None) -> str | None:
    """``onReceiveText (callbacks.py:12)``: the callback running in the stack ending at ``frame``, if any."""
    while frame is not None:
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename == DISPATCH_FILENAME:
            return f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"
        frame = caller
    return None


def _dispatcher(hook: str, spec_argnames: Sequence[str], impls: Sequence[_Impl], dat: object,
                report: ErrorReporter) -> Dispatch:
    """One function calling every implementation of ``hook`` in order, taking the hook's arguments after ``me`` and
    ``dat`` positionally and returning the ``async`` calls still to be awaited.

    Generated once per configuration (as attrs and dataclasses generate methods), with each implementation called
    directly with the arguments it declares and its ``me`` bound as a constant: per message it costs one call plus
    the hooks' own, instead of a loop over adapters. A raising implementation is reported; the next one still runs.
    """
    params = list(spec_argnames[2:])
    namespace: dict[str, Any] = {"dat": dat, "report": report, "PendingCall": PendingCall,
                                 "NOTHING": _NOTHING_PENDING, "hook": hook}
    lines = [f"def dispatch({', '.join(params)}):", "    pending = NOTHING"]
    for index, impl in enumerate(impls):
        namespace.update({f"f{index}": impl.function, f"a{index}": impl.adapter, f"me{index}": impl.me,
                          f"n{index}": impl.plugin_name})
        if impl.is_async:
            args = ", ".join([f"me{index}", "dat", *params])
            lines += ["    if pending is NOTHING:", "        pending = []",
                      f"    pending.append(PendingCall(hook, n{index}, a{index}, ({args},), report))"]
            continue
        values = {"me": f"me{index}", spec_argnames[1]: "dat"}
        args = ", ".join(values.get(name, name) for name in impl.argnames)
        lines += ["    try:", f"        f{index}({args})", "    except (Exception, GeneratorExit) as exc:",
                  f"        report(hook, n{index}, exc)"]
    lines.append("    return pending")
    exec(compile("\n".join(lines), DISPATCH_FILENAME, "exec"), namespace)
    dispatch: Dispatch = namespace["dispatch"]
    return dispatch


def _adapter(function: Callable[..., Any], argnames: Sequence[str], spec_argnames: Sequence[str]) -> Callable[..., Any]:
    """A function taking every argument of the spec positionally and passing on the subset ``function`` declares.

    Generated once per implementation (as attrs and dataclasses generate methods): calling it per message costs one
    plain function call instead of building keyword dicts. pluggy has checked that ``argnames`` are names of the spec.
    """
    if tuple(argnames) == tuple(spec_argnames):
        return function
    namespace: dict[str, Any] = {"function": function}
    exec(f"def adapter({', '.join(spec_argnames)}):\n    return function({', '.join(argnames)})\n", namespace)
    adapter: Callable[..., Any] = namespace["adapter"]
    return adapter


@dataclass(slots=True)
class PendingCall:
    """An ``async def`` hook call the runtime must await (see :meth:`run`)."""

    hook: str
    plugin_name: str
    function: Callable[..., Any]
    args: tuple[Any, ...]
    report: ErrorReporter

    async def run(self) -> None:
        """Await the hook; an exception is reported, never raised (cancellation still propagates)."""
        try:
            await self.function(*self.args)
        except (Exception, GeneratorExit) as exc:
            self.report(self.hook, self.plugin_name, exc)


_NOTHING_PENDING: Final[tuple[PendingCall, ...]] = ()


def _hook_args(specs: types.ModuleType, hook: str) -> tuple[str, ...]:
    """The arguments of ``hook`` after ``me`` and the DAT, in the spec's order."""
    return tuple(inspect.signature(getattr(specs, hook)).parameters)[2:]


def _ref_key(ref: object) -> object:
    """What identifies a reference across configurations: the same key loads the same plugin object once."""
    if isinstance(ref, str):
        text = ref.strip()
        return os.path.abspath(text) if _looks_like_path(text) else text
    return ("object", id(ref))


@dataclass(frozen=True, slots=True)
class Plugin:
    """A loaded callbacks plugin: the name it is known by, the object whose hooks run, and for a ``.py`` file its
    path (watched for live editing) and the ``(mtime, size)`` it had when loaded."""

    name: str
    obj: object
    path: str | None = None
    stamp: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Configuration:
    """Plugins loaded and checked by :meth:`CallbackHost.prepare`, not yet running."""

    manager: WsdatPluginManager
    calls: dict[str, tuple[_Impl, ...]]
    dispatch: dict[str, Dispatch]
    loaded: dict[object, tuple[object, Plugin]]
    added: list[Plugin]
    removed: list[Plugin]
    #: ``me`` globals of callbacks files to update on commit (Execute from changed).
    me_updates: tuple[tuple[types.ModuleType, object], ...] = ()


@dataclass(slots=True)
class CallbackHost:
    """The callbacks of one DAT: a pluggy manager holding its plugins and the calls in order.

    ``dat`` is passed as the ``dat`` argument and is ``me`` for Execute-from ``current``. A plugin keeps its object
    across configurations while its reference stays listed (so a changed ``callbacks`` list starts only the plugins
    it adds and stops only those it removes).
    """

    dat: object
    report: ErrorReporter
    namespace: Mapping[str, object] | None = None
    #: The hookspec module of the DAT's kind (:mod:`~.serverspecs` for a Web Server DAT).
    specs: types.ModuleType = hookspecs
    manager: WsdatPluginManager = field(default_factory=WsdatPluginManager)
    _calls: dict[str, tuple[_Impl, ...]] = field(default_factory=dict)
    _dispatch: dict[str, Dispatch] = field(default_factory=dict)
    _loaded: dict[object, tuple[object, Plugin]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.manager.specs is not self.specs:
            self.manager = WsdatPluginManager(self.specs)

    @property
    def plugins(self) -> list[Plugin]:
        """The loaded plugins, in the order listed."""
        return [plugin for _, plugin in self._loaded.values()]

    def configure(self, refs: Sequence[object], executeloc: str = "current", fromop: str = "",
                  reload: Iterable[object] = ()) -> tuple[list[Plugin], list[Plugin]]:
        """Load ``refs`` and decide ``me`` (:meth:`prepare` then :meth:`commit`); returns ``(added, removed)``."""
        return self.commit(self.prepare(refs, executeloc, fromop, reload))

    def prepare(self, refs: Sequence[object], executeloc: str = "current", fromop: str = "",
                reload: Iterable[object] = ()) -> Configuration:
        """Load ``refs`` and decide ``me`` without changing what runs; raises on any error.

        References listed before keep their plugin object, except keys in ``reload`` (loaded again: the old object
        counts as removed, the new one as added).
        """
        fromop_object = resolve_fromop(fromop, self.namespace) if executeloc == "op" else None
        pending_me: list[tuple[types.ModuleType, object]] = []
        reloading = {_ref_key(ref) for ref in reload}
        loaded: dict[object, tuple[object, Plugin]] = {}
        for ref in refs:
            key = _ref_key(ref)
            if key in loaded:
                continue
            previous = self._loaded.get(key)
            if previous is not None and key not in reloading:
                loaded[key] = previous
                continue
            stamp = file_stamp(key) if isinstance(key, str) and _looks_like_path(key) else None
            name, obj = load_plugin(ref, lambda module: self._give_globals(module, executeloc, fromop_object))
            loaded[key] = (ref, Plugin(name, obj, name if stamp else None, stamp))
        plugins: dict[int, Plugin] = {}
        for _, plugin in loaded.values():
            plugins.setdefault(id(plugin.obj), plugin)
        manager = WsdatPluginManager(self.specs)
        # pluggy calls the plugin registered last first; register backwards so hooks run in the order listed.
        for index, plugin in reversed(list(enumerate(plugins.values()))):
            name, obj = plugin.name, plugin.obj
            try:
                registered = manager.register(obj, name=name if not manager.has_plugin(name) else f"{name}#{index}")
                manager.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginError(f"callbacks: plugin {name!r} does not fit the wsdat hooks: {exc}") from exc
            if not manager.get_hookcallers(obj):
                raise PluginError(f"callbacks: {name!r} ({type(obj).__name__} {registered}) implements none of "
                                  f"the hooks ({', '.join(manager.hook_names)})")
        calls: dict[str, tuple[_Impl, ...]] = {}
        spec_args: dict[str, Sequence[str]] = {}
        for hook_name in manager.hook_names:
            caller: pluggy.HookCaller = getattr(manager.hook, hook_name)
            impls = []
            # pluggy keeps implementations in reverse call order (tryfirst last).
            assert caller.spec is not None
            spec_argnames = spec_args[hook_name] = caller.spec.argnames
            for impl in reversed(caller.get_hookimpls()):
                if impl.hookwrapper or impl.wrapper:
                    raise PluginError(f"callbacks: {impl.plugin_name}.{hook_name}: hook wrappers are not supported")
                me = {"current": self.dat, "callbacks": impl.plugin, "op": fromop_object}[executeloc]
                impls.append(_Impl(_adapter(impl.function, impl.argnames, spec_argnames), impl.plugin_name,
                                   impl.plugin, me, inspect.iscoroutinefunction(impl.function), impl.function,
                                   tuple(impl.argnames)))
            calls[hook_name] = tuple(impls)
        before = {id(plugin.obj): plugin for _, plugin in self._loaded.values()}
        added = [plugin for key, plugin in plugins.items() if key not in before]
        removed = [plugin for key, plugin in before.items() if key not in plugins]
        dispatch = {hook: _dispatcher(hook, spec_args[hook], impls, self.dat, self.report)
                    for hook, impls in calls.items() if impls}
        for plugin in plugins.values():  # files loaded before: their `me` follows Execute from
            if plugin.path is not None and isinstance(plugin.obj, types.ModuleType):
                added_me = self._me(executeloc, plugin.obj, fromop_object)
                if plugin.obj.__dict__.get("me") is not added_me:
                    pending_me.append((plugin.obj, added_me))
        return Configuration(manager, calls, dispatch, loaded, added, removed, tuple(pending_me))

    def commit(self, configuration: Configuration) -> tuple[list[Plugin], list[Plugin]]:
        """Make a prepared configuration the one that runs; returns its ``(added, removed)`` plugins."""
        for module, me in configuration.me_updates:
            module.me = me  # type: ignore[attr-defined]
        self.manager = configuration.manager
        self._calls = configuration.calls
        self._dispatch = configuration.dispatch
        self._loaded = configuration.loaded
        return configuration.added, configuration.removed

    def _me(self, executeloc: str, plugin: object, fromop_object: object) -> object:
        return {"current": self.dat, "callbacks": plugin, "op": fromop_object}[executeloc]

    def _give_globals(self, module: types.ModuleType, executeloc: str, fromop_object: object) -> None:
        """TouchDesigner's globals for a callbacks file, before its code runs (see :mod:`wsdat_core.host.tdglobals`)."""
        def report(line: str) -> None:
            monitor = getattr(self.dat, "monitor", None)
            if monitor is not None:
                monitor(f"debug: {line}")

        module.__dict__.update(td_globals(self.dat, self.namespace, self._me(executeloc, module, fromop_object),
                                          report))

    def changed_files(self) -> list[str]:
        """The ``.py`` callbacks files whose ``(mtime, size)`` differ from when they were loaded (one ``stat`` per
        file; no thread)."""
        return [plugin.path for _, plugin in self._loaded.values()
                if plugin.path is not None and file_stamp(plugin.path) != plugin.stamp]

    def implements(self, hook: str) -> bool:
        """True when at least one plugin implements ``hook``."""
        return bool(self._calls.get(hook))

    def me_of(self, plugin: Plugin) -> object:
        """What ``plugin``'s hooks get as ``me``."""
        for impls in self._calls.values():
            for impl in impls:
                if impl.plugin is plugin.obj:
                    return impl.me
        return self.dat

    def call(self, hook: str, *args: Any, **kwargs: Any) -> Sequence[PendingCall]:
        """Call every implementation of ``hook`` with the hook's arguments after ``me`` and ``dat`` (positionally in
        the spec's order, or by name); returns the ``async`` ones still to be awaited.

        An implementation that raises is reported and the next one still runs.
        """
        dispatch = self._dispatch.get(hook)
        if dispatch is None:
            return _NOTHING_PENDING
        if kwargs:
            args = (*args, *(kwargs[name] for name in _hook_args(self.specs, hook)[len(args):]))
        return dispatch(*args)

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
        """Call ``hook`` (one without arguments beyond ``me`` and ``dat``) of ``plugins`` only, as :meth:`call`."""
        objects = {id(plugin.obj) for plugin in plugins}
        impls = tuple(impl for impl in self._calls.get(hook, ()) if id(impl.plugin) in objects)
        return self._call(hook, impls, ()) if impls else _NOTHING_PENDING

    def _call(self, hook: str, impls: Sequence[_Impl], args: tuple[Any, ...]) -> Sequence[PendingCall]:
        pending: list[PendingCall] | None = None
        dat = self.dat
        for impl in impls:
            try:
                if impl.is_async:
                    pending = pending or []
                    pending.append(PendingCall(hook, impl.plugin_name, impl.adapter, (impl.me, dat, *args),
                                               self.report))
                else:
                    impl.adapter(impl.me, dat, *args)
            except (Exception, GeneratorExit) as exc:
                self.report(hook, impl.plugin_name, exc)
        return pending or _NOTHING_PENDING


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
                for specs in SPEC_MODULES:  # the hooks of either kind of DAT (client, server)
                    manager = WsdatPluginManager(specs)
                    manager.register(plugin, name=ep.name)
                    implemented = {caller.name for caller in manager.get_hookcallers(plugin) or ()}
                    hooks += [h for h in specs.HOOK_NAMES if h in implemented and h not in hooks]
            except Exception as exc:  # a broken plugin must not break the listing
                found.append(PluginInfo(ep.name, dist_name, version, (), f"{type(exc).__name__}: {exc}"))
                continue
            found.append(PluginInfo(ep.name, dist_name, version, tuple(hooks)))
    return sorted(found, key=lambda info: info.name)
