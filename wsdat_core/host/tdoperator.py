"""What a DAT answers to as a TouchDesigner operator, beyond its table, storage and parameters.

:class:`TDOperator` is mixed into :class:`~wsdat_core.runtime.dat.WebSocketDAT`. The OP members that mean something
here work (``path``, ``id``, ``valid``, ``type``, ``OPType``, ``family``, ``isDAT``, ``op()``, ``ops()``); the ones
that need TD's operator network or UI (``me.ext``, ``me.parent()``, ``me.iop``, ``me.cook()``...) raise
:class:`~wsdat_core.model.errors.TDOnlyError` with one line saying what to use instead (see
:data:`~.tdonly.TD_ONLY_ATTRIBUTES`). Pure: no trio, no sockets.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final

from .tdglobals import find_matching, find_named
from .tdonly import TDOnlyAttribute

__all__ = ["TDOperator"]

_ids: Final = itertools.count(1)


class TDOperator:
    """TD's OP members for an object with a ``name`` and a ``namespace`` (the other DATs of its service)."""

    name: str
    namespace: Mapping[str, object] | None

    #: TD's operator type, family and kind, as ``me.type`` / ``me.OPType`` / ``me.family`` read them in TD.
    type: Final = "websocket"
    OPType: Final = "websocketDAT"
    family: Final = "DAT"
    isDAT: Final = True
    isTable: Final = True
    #: Always True: a DAT here is never deleted under a callback's feet.
    valid: Final = True

    # TD's OP members that need its operator network or UI: each raises TDOnlyError saying what to use instead.
    parent = TDOnlyAttribute()
    children = TDOnlyAttribute()
    inputs = TDOnlyAttribute()
    outputs = TDOnlyAttribute()
    iop = TDOnlyAttribute()
    ipar = TDOnlyAttribute()
    ext = TDOnlyAttribute()
    extensions = TDOnlyAttribute()
    mod = TDOnlyAttribute()
    module = TDOnlyAttribute()
    cook = TDOnlyAttribute()
    time = TDOnlyAttribute()
    errors = TDOnlyAttribute()
    warnings = TDOnlyAttribute()
    addScriptError = TDOnlyAttribute()
    addError = TDOnlyAttribute()
    addWarning = TDOnlyAttribute()

    @property
    def path(self) -> str:
        """TD's operator path: ``/NAME`` (a service is flat; ``op('/project1/NAME')`` finds it by its last part)."""
        return f"/{self.name}"

    @property
    def id(self) -> int:
        """TD's operator id: a number unique in this process, fixed for the DAT's life."""
        found: int | None = self.__dict__.get("_td_id")
        if found is None:
            found = self.__dict__["_td_id"] = next(_ids)
        return found

    def op(self, name: Any) -> Any:
        """TD's ``OP.op(name)``: as the global ``op`` of a callbacks file (None when nothing has that name)."""
        return name if not isinstance(name, str) else find_named(self, self.namespace, name)

    def ops(self, *patterns: str) -> list[Any]:
        """TD's ``OP.ops(*patterns)``: as the global ``ops`` of a callbacks file."""
        return find_matching(self, self.namespace, patterns)

