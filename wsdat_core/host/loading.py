"""Loading plugin references: entry points, ``module[:attribute]``, ``.py`` callbacks files and Python objects.

A ``.py`` file is compiled from its source each time and runs under a time budget (:func:`run_within`): its
module-level code may not loop forever, and anything it raises, ``SystemExit`` included, is a
:class:`~wsdat_core.model.errors.PluginError` naming ``file:line``. Pure: no trio, no sockets.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.metadata
import inspect
import os
import stat
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from ..model.errors import ParameterError, PluginError
from .hookspecs import PROJECT
from .reporting import error_text

__all__ = ["ENTRY_POINT_GROUP", "LoadTimeout", "Loaded", "ModulePreparer", "file_problem", "file_stamp",
           "load_file", "load_plugin", "load_reference", "looks_like_path", "parse_setting_value", "ref_key",
           "resolve_fromop", "run_within", "settings_names"]

ENTRY_POINT_GROUP: Final = PROJECT
#: How long a callbacks file's module-level code may run when no budget is given (``reloadtimeout``'s default).
DEFAULT_LOAD_BUDGET: Final = 5.0

ModulePreparer = Callable[[types.ModuleType], None]
"""Called with a callbacks file's new module before its code runs (to put TouchDesigner's globals in it)."""
T = TypeVar("T")


# ------------------------------------------------------------------------------------------------------ time budget
class LoadTimeout(BaseException):
    """Raised inside a callbacks file's code once its time budget is spent. A BaseException, so that the file's own
    ``except Exception`` cannot swallow it (and it is raised again on every line after the budget)."""


def run_within(seconds: float, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in this thread, with :class:`LoadTimeout` raised inside the Python code it runs once
    ``seconds`` have passed: a trace function (this thread's only) looks at the clock on every call, and on every
    line and opcode of code compiled from a callbacks file. Code blocked inside C is not interrupted (the caller may
    abandon the thread)."""
    deadline = time.monotonic() + seconds

    def on_line(frame: types.FrameType, event: str, arg: object) -> Any:
        if time.monotonic() > deadline:
            raise LoadTimeout(f"still running after {seconds:g} s")
        return on_line

    def on_call(frame: types.FrameType, event: str, arg: object) -> Any:
        on_line(frame, event, arg)
        if not frame.f_globals.get(_MARK):
            return None  # only code of callbacks files is traced closely: an import of a big library stays fast
        frame.f_trace_opcodes = True  # `while True: pass` is one line: no line event would come again
        return on_line

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        return function(*args)
    finally:
        sys.settrace(previous)


_MARK: Final = "__wsdat_callbacks_file__"  # a global of every module made from a callbacks file


# ------------------------------------------------------------------------------------------------------------ files
def file_stamp(path: str) -> tuple[int, int] | None:
    """``(mtime in ns, size)`` of ``path``, or None when it cannot be read."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


def file_problem(path: str) -> str | None:
    """What keeps ``path`` from being loaded as a callbacks file, in words (``was deleted``, ``is a directory, not a
    file``, ``is a symbolic link loop``...), or None when it is a file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "is a symbolic link to a missing file" if os.path.islink(path) else "was deleted (no such file)"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (too many levels of symbolic links)"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _where(exc: BaseException, path: str) -> str:
    """``file:line`` of the line of ``path`` where ``exc`` arose (its last frame in that file)."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f"{path}:{exc.lineno}"
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == path]
    return f"{path}:{frames[-1].lineno}" if frames else path


def load_file(path: str, prepare: ModulePreparer | None = None,
              budget: float = DEFAULT_LOAD_BUDGET) -> types.ModuleType:
    """A ``.py`` callbacks file as a fresh module, compiled from its source each time (no bytecode cache: an edit
    made within the same second is never missed); its code runs for at most ``budget`` seconds."""
    full = os.path.abspath(path)
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    stem = "".join(ch if ch.isalnum() else "_" for ch in os.path.splitext(os.path.basename(full))[0])
    module = types.ModuleType(f"wsdat_callbacks_{stem}_{digest}")
    module.__file__ = full
    try:
        with open(full, "rb") as file:
            source = file.read()
    except OSError as exc:
        problem = file_problem(full) or f"cannot be read ({exc.strerror or exc})"
        raise ParameterError("callbacks", path, f"a readable Python file (it {problem})") from None
    if prepare is not None:
        prepare(module)
    module.__dict__[_MARK] = True
    try:
        run_within(budget, exec, compile(source, full, "exec"), module.__dict__)
    except LoadTimeout as exc:
        raise PluginError(f"callbacks: {_where(exc, full)}: failed to load: {exc} (reloadtimeout)") from None
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: in a file's code, its failure too
        raise PluginError(f"callbacks: {_where(exc, full)}: failed to load: {error_text(exc)}") from exc
    return module


# ------------------------------------------------------------------------------------------------------- references
def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _instantiate(obj: object, ref: object) -> object:
    if inspect.isclass(obj):
        try:
            return obj()
        except Exception as exc:
            raise PluginError(f"callbacks: cannot instantiate plugin class {ref!r} without arguments: {exc}") from exc
    return obj


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


def looks_like_path(ref: str) -> bool:
    return ref.endswith(".py") or os.sep in ref or (os.altsep is not None and os.altsep in ref)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded reference: the name it is known by, the plugin object, and whether it is a packaged plugin (an entry
    point: its hooks are matched by name only, as pluggy does) rather than a callbacks file or an object (called as
    TouchDesigner calls them)."""

    name: str
    obj: object
    packaged: bool = False


def load_reference(ref: object, prepare: ModulePreparer | None = None,
                   budget: float = DEFAULT_LOAD_BUDGET) -> Loaded:
    """Turn one plugin reference into a :class:`Loaded`.

    Raises :class:`ParameterError` (listing installed entry-point names) when nothing matches, and
    :class:`PluginError` when the plugin exists but fails to load.
    """
    if not isinstance(ref, str):
        if isinstance(ref, types.ModuleType):
            return Loaded(ref.__name__, ref)
        name = ref.__name__ if inspect.isclass(ref) else type(ref).__name__
        return Loaded(f"{name}@{id(ref):x}", _instantiate(ref, ref))
    text = ref.strip()
    entry_points = _entry_points()
    if text in entry_points:
        try:
            loaded = entry_points[text].load()
        except Exception as exc:
            raise PluginError(f"callbacks: plugin {text!r} failed to load: {type(exc).__name__}: {exc}") from exc
        return Loaded(text, _instantiate(loaded, text), packaged=True)
    if looks_like_path(text):
        if not os.path.isfile(text):
            problem = file_problem(text) or "is not a file"
            shown = "no such file" if problem.startswith("was deleted") else f"it {problem}"
            raise ParameterError("callbacks", ref, f"an existing .py file ({shown})")
        return Loaded(os.path.abspath(text), load_file(text, prepare, budget))
    try:
        obj = _import_ref(text)
    except LookupError:
        installed = ", ".join(sorted(entry_points)) or "none installed"
        raise ParameterError(
            "callbacks", ref,
            f"an installed plugin name ({installed}), a module[:attribute] or a .py file") from None
    return Loaded(text, _instantiate(obj, text))


def load_plugin(ref: object, prepare: ModulePreparer | None = None) -> tuple[str, object]:
    """Turn one plugin reference into ``(name, plugin_object)`` (see :func:`load_reference`)."""
    loaded = load_reference(ref, prepare)
    return loaded.name, loaded.obj


def ref_key(ref: object) -> object:
    """What identifies a reference across configurations: the same key loads the same plugin object once."""
    if isinstance(ref, str):
        text = ref.strip()
        return os.path.abspath(text) if looks_like_path(text) else text
    return ("object", id(ref))


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
