"""How one implementation of a hook is called, and the generated dispatcher calling all of them per event.

A hook's arguments come from its spec in the hookspec module the host uses: ``(me, dat, *rest)`` for the WebSocket
DAT (``onReceiveText(me, dat, rowIndex, message)``). TouchDesigner passes everything after ``me``, **by position**;
pluggy passes the arguments an implementation names. An implementation is called one of three ways
(:func:`call_style`):

``names``
    each argument it names (any subset of the spec's, in any order): functions marked ``@hookimpl``, packaged plugins,
    and unmarked functions whose every parameter is named like an argument (``onReceiveText(dat, message)``,
    ``onReceiveText(self, message, me)``);
``position``
    TD's arguments in TD's order, whatever the parameters are called: any other unmarked hook of a callbacks file or
    a plain object (``onReceiveText(dat, rowIndex, data)``, ``onReceiveText(d, *args)``, defaults);
``unfit``
    an arity that cannot take TD's arguments (``onReceiveBinary(dat, rowIndex, contents)``): it loads, as in TD, and
    each call fails with a :class:`HookArityError` naming its ``def`` line.

Per event, the cost is one generated function calling each implementation directly with constants bound (as attrs
and dataclasses generate methods): no keyword dicts, no loop over adapters. Pure: no trio, no sockets.
"""

from __future__ import annotations

import inspect
import os
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from .hookspecs import TD_ARGUMENTS

__all__ = ["DISPATCH_FILENAME", "CallStyle", "Dispatch", "ErrorReporter", "HookArityError", "Impl", "PendingCall",
           "call_style", "make_adapter", "make_dispatcher", "running_callback"]

ErrorReporter = Callable[[str, str, BaseException], None]
"""Called as ``report(hook_name, plugin_name, exception)`` when a hook raised."""
Dispatch = Callable[..., Sequence["PendingCall"]]
#: The file name of generated code: the frame below one of these in a stack is a running callback.
DISPATCH_FILENAME: Final = "<wsdat hook dispatch>"
_PLAIN: Final = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class HookArityError(TypeError):
    """A hook whose parameters cannot take the arguments it is called with; ``where`` is its ``def``'s
    ``(file, line)``, since no line of the hook ran."""

    def __init__(self, message: str, where: tuple[str, int] | None) -> None:
        super().__init__(message)
        self.where = where


@dataclass(frozen=True, slots=True)
class CallStyle:
    """How to call one implementation: ``argnames`` are the spec's argument names to pass, in order."""

    kind: Literal["names", "position", "unfit"]
    argnames: tuple[str, ...]
    problem: str = ""


def _definition(function: Callable[..., Any]) -> tuple[str, int] | None:
    code = getattr(inspect.unwrap(function), "__code__", None)
    return (code.co_filename, code.co_firstlineno) if code is not None else None


def td_arguments_of(hook: str, spec_argnames: Sequence[str]) -> tuple[str, ...]:
    """The arguments TouchDesigner calls ``hook`` with: all of the spec's but ``me``, unless the spec module says
    fewer (its ``TD_ARGUMENTS``, e.g. ``onReceiveBinary`` without wsdat's ``rowIndex``)."""
    return tuple(TD_ARGUMENTS.get(hook, spec_argnames[1:]))


def call_style(hook: str, function: Callable[..., Any], spec_argnames: Sequence[str]) -> CallStyle:
    """How an unmarked hook of a callbacks file or a plain object is called (see the module's docstring)."""
    td_arguments = td_arguments_of(hook, spec_argnames)
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a callable without a signature: TD's call is all we can try
        return CallStyle("position", td_arguments)
    parameters = list(signature.parameters.values())
    plain = [p for p in parameters if p.kind in _PLAIN]
    has_star = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    required_keywords = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty]
    known = {spec_argnames[0], *td_arguments}  # the names of TD's call (wsdat's extra ones need @hookimpl)
    if not has_star and not required_keywords and all(p.name in known for p in plain):
        return CallStyle("names", tuple(p.name for p in plain))
    try:
        signature.bind(*td_arguments)
    except TypeError as exc:
        bare = signature.replace(parameters=[p.replace(annotation=p.empty) for p in parameters],
                                 return_annotation=signature.empty)
        shown = f"{hook}{bare}"
        problem = (f"{shown} cannot take the {len(td_arguments)} argument(s) it is called with "
                   f"({', '.join(td_arguments)}): {exc}")
        return CallStyle("unfit", td_arguments, problem)
    return CallStyle("position", td_arguments)


def arity_failure(function: Callable[..., Any], problem: str) -> Callable[..., Any]:
    """What runs instead of a hook that cannot take its arguments: it raises :class:`HookArityError`."""
    where = _definition(function)

    def unfit(*args: Any) -> None:
        raise HookArityError(problem, where)

    return unfit


@dataclass(frozen=True, slots=True)
class Impl:
    """One implementation of a hook, ready to call."""

    #: Takes ``(me, dat, *hook arguments)`` in the spec's order and calls the implementation the way it is called.
    adapter: Callable[..., Any]
    plugin_name: str
    plugin: object
    me: object
    is_async: bool
    #: The function called (the implementation, or its stand-in when it cannot take its arguments).
    function: Callable[..., Any]
    #: The spec's argument names passed to ``function``, in order.
    argnames: tuple[str, ...]


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


NOTHING_PENDING: Final[tuple[PendingCall, ...]] = ()


def _expression(name: str, spec_argnames: Sequence[str], me: str, owner: str) -> str:
    """The generated code's expression for the spec argument ``name``: ``me`` and the DAT are bound constants."""
    return me if name == spec_argnames[0] else owner if name == spec_argnames[1] else name


def make_adapter(function: Callable[..., Any], argnames: Sequence[str],
                 spec_argnames: Sequence[str]) -> Callable[..., Any]:
    """A function taking every argument of the spec positionally and passing on ``argnames`` (generated once per
    implementation: calling it costs one plain call)."""
    if tuple(argnames) == tuple(spec_argnames):
        return function
    parameters = [f"_a{index}" for index in range(len(spec_argnames))]
    by_name = dict(zip(spec_argnames, parameters, strict=True))
    source = (f"def adapter({', '.join(parameters)}):\n"
              f"    return _function({', '.join(by_name[name] for name in argnames)})\n")
    namespace: dict[str, Any] = {"_function": function}
    exec(compile(source, DISPATCH_FILENAME, "exec"), namespace)
    adapter: Callable[..., Any] = namespace["adapter"]
    return adapter


def _sync_call(index: int, impl: Impl, spec_argnames: Sequence[str], indent: str) -> list[str]:
    """The generated lines calling plain implementation ``index``: a raising one is reported, the next still runs."""
    args = ", ".join(_expression(name, spec_argnames, f"_me{index}", "_dat") for name in impl.argnames)
    return [f"{indent}try:", f"{indent}    _f{index}({args})", f"{indent}except (Exception, GeneratorExit) as exc:",
            f"{indent}    _report(_hook, _n{index}, exc)"]


def make_dispatcher(hook: str, impls: Sequence[Impl], dat: object, report: ErrorReporter,
                    spec_argnames: Sequence[str]) -> Dispatch:
    """One function calling every implementation of ``hook`` in order, taking the hook's arguments after ``me`` and
    the DAT positionally and returning the ``async`` calls still to be awaited. A raising implementation is
    reported; the next one still runs."""
    params = list(spec_argnames[2:])
    namespace: dict[str, Any] = {"_dat": dat, "_report": report, "_PendingCall": PendingCall,
                                 "_NOTHING": NOTHING_PENDING, "_hook": hook}
    lines = [f"def dispatch({', '.join(params)}):", "    _pending = _NOTHING"]
    for index, impl in enumerate(impls):
        namespace.update({f"_f{index}": impl.function, f"_a{index}": impl.adapter, f"_me{index}": impl.me,
                          f"_n{index}": impl.plugin_name})
        if impl.is_async:
            args = ", ".join([f"_me{index}", "_dat", *params])
            lines += ["    if _pending is _NOTHING:", "        _pending = []",
                      f"    _pending.append(_PendingCall(_hook, _n{index}, _a{index}, ({args},), _report))"]
            continue
        lines += _sync_call(index, impl, spec_argnames, "    ")
    lines.append("    return _pending")
    exec(compile("\n".join(lines), DISPATCH_FILENAME, "exec"), namespace)
    dispatch: Dispatch = namespace["dispatch"]
    return dispatch


RunDispatch = Callable[[Sequence[Any], Any, Any], int]


def make_run_dispatcher(hook: str, impls: Sequence[Impl], dat: object, report: ErrorReporter,
                        spec_argnames: Sequence[str]) -> RunDispatch | None:
    """One function taking a whole run of payloads for a hook whose arguments are ``(rowIndex, payload)``
    (``onReceiveText``): for each payload in order, while ``state.active``, it appends the payload to ``rows`` (a
    deque: the table's rows), then calls every implementation with the row index, as calling :func:`make_dispatcher`'s
    function after each append would; returns how many payloads it took. None when an implementation is ``async``
    (their calls go through the cook's backpressure, one by one).

    Generated once per configuration: per message it costs the loop and the hooks' own calls, with no frame between.
    """
    if not impls or any(impl.is_async for impl in impls) or len(spec_argnames) != 4:
        return None
    row, payload = spec_argnames[2], spec_argnames[3]
    namespace: dict[str, Any] = {"_dat": dat, "_report": report, "_hook": hook}
    lines = ["def dispatch_run(_payloads, _rows, _state):", "    _append = _rows.append", "    _count = 0",
             f"    for {payload} in _payloads:", "        if not _state.active:", "            break",
             f"        _append({payload})", f"        {row} = len(_rows)", "        _count += 1"]
    for index, impl in enumerate(impls):
        namespace.update({f"_f{index}": impl.function, f"_me{index}": impl.me, f"_n{index}": impl.plugin_name})
        lines += _sync_call(index, impl, spec_argnames, "        ")
    lines.append("    return _count")
    exec(compile("\n".join(lines), DISPATCH_FILENAME, "exec"), namespace)
    dispatch_run: RunDispatch = namespace["dispatch_run"]
    return dispatch_run


def running_callback(frame: types.FrameType | None) -> str | None:
    """``onReceiveText (callbacks.py:12)``: the callback running in the stack ending at ``frame``, if any."""
    while frame is not None:
        caller = frame.f_back
        if caller is not None and caller.f_code.co_filename == DISPATCH_FILENAME:
            return f"{frame.f_code.co_name} ({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"
        frame = caller
    return None
