"""The ``par`` object of a DAT: its values, checked when set, and change notification.

Parameter names are TouchDesigner's (``active``, ``netaddress``, ``port``, ``timeout``, ``callbacks``, ``executeloc``,
``fromop``, ``clamp``, ``maxlines``, ``clear``, ``bytes``) plus wsdat's own, all in TD's style: lower case, no
underscores; each is declared once in :data:`~.specs.SPECS` (:mod:`~.specs`), checked by :mod:`~.checks`.

Values are checked when set; a bad value raises :class:`~.errors.ParameterError` naming the parameter, the
value and what is allowed, and leaves every parameter as it was. Listeners registered with
:meth:`Parameters.subscribe` hear about every change, which is how the runtime reacts to ``dat.par.maxlines = 10``.
Pure: no trio, no sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from .address import Endpoint, resolve_url
from .errors import ParameterError
from .secrets import mask_parameters
from .specs import (
    COMPRESSION,
    EXECUTE_FROM,
    HOST_PARAMS,
    MIB,
    PROTECTED_PARAMS,
    SPECS,
    Effect,
    ParSpec,
    parameters_markdown,
)

__all__ = [
    "COMPRESSION",
    "EXECUTE_FROM",
    "MIB",
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


Check = Callable[[Mapping[str, Any], frozenset[str]], None]
"""Called as ``check(values, changed_names)`` before a change is committed; raising rejects the whole change."""

Listener = Callable[[str, Any, Any], None]
"""Called as ``listener(name, old, new)`` after a parameter changed (for the ``clear`` pulse: ``old`` and ``new`` are
``None``)."""


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


def _unknown(name: str, specs: Mapping[str, ParSpec] = SPECS) -> str:
    return f"no parameter named {name!r}; parameters are: {', '.join(specs)}"
