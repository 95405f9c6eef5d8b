"""TouchDesigner names with no meaning in wsdat, and what to use instead: one table, one stand-in type.

A callbacks file copied out of a TD project uses TD's globals (``parent()``, ``iop``, ``mod``...), OP attributes
(``me.ext``, ``me.parent()``), OP shortcuts (``op.LOGGER``) and TD's own modules (``import TDJSON``). Each use raises
:class:`~wsdat_core.model.errors.TDOnlyError` with one line: the name as written, that it is TouchDesigner's, and what
to use in wsdat. Pure: no trio, no sockets.
"""

from __future__ import annotations

from typing import Any, Final

from ..model.errors import TDOnlyError

__all__ = ["TD_MODULES", "TD_ONLY", "TD_ONLY_ATTRIBUTES", "TDOnly", "TDOnlyAttribute", "TDOnlyImportError",
           "is_td_module", "op_shortcut_error"]

_NETWORK: Final = ("TouchDesigner's operator network does not exist in wsdat; use op(NAME) to reach another DAT of "
                   "the service")
_EXTENSIONS: Final = ("TouchDesigner's extensions do not exist in wsdat; keep state with dat.store()/dat.fetch(), or "
                      "write a plugin class (docs/plugins.md)")
_MODULES: Final = ("TouchDesigner's module on demand does not exist in wsdat; put that DAT's code in a .py file and "
                   "import it")
_PARAMETERS: Final = ("TouchDesigner's custom parameters do not exist in wsdat; use dat.par for the DAT's parameters "
                      "and dat.pluginSettings(NAME) for settings")

#: TD's globals with no meaning outside TouchDesigner, and what to use instead.
TD_ONLY: Final = {
    "parent": _NETWORK,
    "root": _NETWORK,
    "iop": "TouchDesigner's internal operator shortcuts do not exist in wsdat; use op(NAME) to reach another DAT of "
           "the service",
    "ipar": _PARAMETERS,
    "ext": _EXTENSIONS,
    "mod": _MODULES,
    "project": "there is no TouchDesigner project in wsdat; keep state with dat.store()/dat.fetch() and settings in "
               "the service file",
    "app": "TouchDesigner's application object does not exist in wsdat; use the sys and platform modules",
    "ui": "wsdat has no TouchDesigner UI; report with debug(...) or dat.monitor(...)",
    "tdu": "TouchDesigner's utility module does not exist in wsdat; use the Python standard library",
    "run": "TouchDesigner's run() (delayed scripts) does not exist in wsdat; use an async def callback or "
           "dat.start_soon(...)",
    "families": _NETWORK,
    "monitors": "TouchDesigner's monitors object does not exist in wsdat",
    "sysinfo": "TouchDesigner's sysinfo does not exist in wsdat; use the os and platform modules",
    "licenses": "TouchDesigner's licenses object does not exist in wsdat",
}

#: OP attributes and methods of TD that a DAT here does not have, and what to use instead.
TD_ONLY_ATTRIBUTES: Final = {
    "parent": _NETWORK,
    "children": _NETWORK,
    "inputs": _NETWORK,
    "outputs": _NETWORK,
    "iop": TD_ONLY["iop"],
    "ipar": _PARAMETERS,
    "ext": _EXTENSIONS,
    "extensions": _EXTENSIONS,
    "mod": _MODULES,
    "module": _MODULES,
    "cook": "wsdat cooks when messages arrive; there is nothing to force (use dat.par.reload.pulse() to load the "
            "callbacks again)",
    "time": "TouchDesigner's time COMP does not exist in wsdat; use absTime",
    "errors": "TouchDesigner's OP errors() does not exist in wsdat; read dat.last_error and dat.info.errors",
    "warnings": "TouchDesigner's OP warnings() does not exist in wsdat; read dat.info.warnings",
    "addScriptError": "TouchDesigner's script errors do not exist in wsdat; raise an exception (it is reported) or "
                      "use debug(...)",
    "addError": "TouchDesigner's OP errors do not exist in wsdat; use dat.monitor(TEXT, logging.ERROR)",
    "addWarning": "TouchDesigner's OP warnings do not exist in wsdat; use dat.monitor(TEXT, logging.WARNING)",
}

#: TD's own Python modules, and what to use instead (any other ``TD...`` module gets a general line).
TD_MODULES: Final = {
    "td": "its globals (me, op, ops, debug, absTime) are already defined in a callbacks file; remove the import",
    "TDJSON": "use the json module (json.dumps, json.loads)",
    "TDFunctions": "TouchDesigner's helper functions need its operator network; use the Python standard library",
    "TDStoreTools": "keep state with dat.store()/dat.fetch() (operator storage)",
}


def is_td_module(name: str) -> bool:
    """True for TD's own modules: ``td``, the ones in :data:`TD_MODULES`, and ``TD`` + a capital (``TDResources``)."""
    return name in TD_MODULES or (len(name) > 2 and name.startswith("TD") and name[2].isupper())


class TDOnlyImportError(TDOnlyError, ModuleNotFoundError):
    """``import TDJSON`` in a callbacks file: a :class:`TDOnlyError` with the hint, and still a
    ``ModuleNotFoundError``, so files that guard the import (``try: import td / except ImportError``) keep working."""

    def __init__(self, module: str) -> None:
        hint = TD_MODULES.get(module, "TouchDesigner's modules do not exist in wsdat; use the Python standard "
                                      "library")
        super().__init__(f"import {module}: {module} is TouchDesigner's own module; {hint}", name=module)


def op_shortcut_error(shortcut: str) -> TDOnlyError:
    """``op.LOGGER``: TD's global OP shortcuts."""
    return TDOnlyError(f"op.{shortcut}: TouchDesigner's global OP shortcuts do not exist in wsdat; use op('NAME') "
                       "to reach another DAT of the service, or dat.fetch(KEY) for a shared object")


class TDOnly:
    """Stands for a TouchDesigner-only name: calling it, reading from it or testing it raises :class:`TDOnlyError`
    naming the use (``parent().par``, ``iop.logger``) and what to use instead."""

    __slots__ = ("_name", "_hint")

    def __init__(self, name: str, hint: str | None = None) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_hint", TD_ONLY[name] if hint is None else hint)

    def _error(self, use: str) -> TDOnlyError:
        return TDOnlyError(f"{self._name}{use}: {self._hint}")

    def __setattr__(self, attribute: str, value: Any) -> None:
        raise self._error(f".{attribute} = ...")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._error("()")

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        raise self._error(f".{attribute}")

    def __getitem__(self, key: Any) -> Any:
        raise self._error(f"[{key!r}]")

    def __bool__(self) -> bool:
        raise self._error("")

    def __iter__(self) -> Any:
        raise self._error("")

    def __repr__(self) -> str:
        return f"<{self._name}: TouchDesigner only>"


class TDOnlyAttribute:
    """A TD OP attribute a DAT here does not have (``me.ext``, ``me.parent()``): reading it gives a :class:`TDOnly`
    named after the DAT, so the line says which DAT and what was used (``feed.parent()``)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self  # the class itself (documentation tools, introspection)
        return TDOnly(f"{getattr(instance, 'name', type(instance).__name__)}.{self.name}",
                      TD_ONLY_ATTRIBUTES[self.name])
