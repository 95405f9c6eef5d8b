"""Secrets in what wsdat shows: passwords in URLs and the values of credential headers.

One helper for every face (error lines, logs, the HTTP API, the live page, metrics, record files): what a user typed
as a secret is never shown back, wherever it travels. Masking keeps what helps (the user name, the host, an
``Authorization`` header's scheme) and replaces the secret with ``***``::

    >>> mask_url("wss://bob:hunter2@example.com/feed")
    'wss://bob:***@example.com/feed'
    >>> mask_text("cannot connect to redis://:pw@127.0.0.1:6379/0: refused")
    'cannot connect to redis://:***@127.0.0.1:6379/0: refused'
    >>> mask_header("Authorization", "Bearer abc.def")
    'Bearer ***'

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["CREDENTIAL_HEADERS", "MASK", "is_credential_header", "mask_header", "mask_headers", "mask_parameters",
           "mask_text", "mask_url", "mask_value"]

MASK: Final = "***"
#: Headers whose values are credentials, always masked (lower case); a user marks more with the
#: ``secretheaders`` parameter.
CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: ``scheme://user:password@``: the userinfo of a URL anywhere in a text (the password runs to the last ``@`` before
#: the host, so a password holding ``@`` or ``:`` is masked whole).
_USERINFO: Final = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:@/\s?#'\"]*):(?P<password>[^/\s?#'\"]*)@")
#: Auth schemes kept in front of a masked credential (``Bearer ***``).
_SCHEME: Final = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +\S")
#: ``Name: value`` (or a mistyped ``Name value``) as a header is written in a string: the name and what follows.
_HEADER_LINE: Final = re.compile(r"^(?P<name>\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)(?P<sep>\s*:\s*|\s+)(?P<value>.*)$",
                                 re.DOTALL)


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (the user name stays; a URL without a password is unchanged)."""
    return mask_text(url)


def mask_text(text: str) -> str:
    """Every URL password in ``text`` (an error line, a log line, a parameter value) replaced by ``***``."""
    if "://" not in text:
        return text
    return _USERINFO.sub(lambda found: f"{found['scheme']}{found['user']}:{MASK}@" if found["password"] != MASK
                         else found[0], text)


def is_credential_header(name: str, secret: Iterable[str] = ()) -> bool:
    """Whether the header ``name`` carries a credential: one of :data:`CREDENTIAL_HEADERS` or of ``secret``
    (names compared without case)."""
    lowered = name.strip().lower()
    return lowered in CREDENTIAL_HEADERS or lowered in {other.strip().lower() for other in secret}


def mask_header(name: str, value: str, secret: Iterable[str] = ()) -> str:
    """The value of header ``name`` as it may be shown: a credential's value is ``***`` (after its auth scheme, as in
    ``Bearer ***``); any other value with its URL passwords masked."""
    if not is_credential_header(name, secret):
        return mask_text(value)
    scheme = _SCHEME.match(value.strip())
    return f"{scheme['scheme']} {MASK}" if scheme and name.strip().lower().endswith("authorization") else MASK


def mask_headers(headers: Iterable[tuple[str, str]], secret: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``(name, value)`` pairs with credential values masked (see :func:`mask_header`)."""
    names = tuple(secret)
    return [(name, mask_header(name, value, names)) for name, value in headers]


def _mask_header_line(text: str, secret: tuple[str, ...]) -> str:
    """A header written as one string (``"Authorization: Bearer x"``, or mistyped without its colon) masked as
    :func:`mask_header` masks the pair; any other text with its URL passwords masked."""
    found = _HEADER_LINE.match(text)
    if found is None or not is_credential_header(found["name"], secret):
        return mask_text(text)
    return f"{found['name']}{found['sep']}{mask_header(found['name'], found['value'], secret)}"


def mask_value(value: Any, secret: Iterable[str] = ()) -> Any:
    """``value`` (a parameter value as given: a string, a mapping or pairs of headers, lists of those) as it may be
    shown: URL passwords and credential header values masked wherever they sit; anything else unchanged.

    >>> mask_value({"Authorization": "Bearer abc", "Accept": "x"})
    {'Authorization': 'Bearer ***', 'Accept': 'x'}
    >>> mask_value(["Cookie: id=1", "ws://u:pw@h/"])
    ['Cookie: ***', 'ws://u:***@h/']
    """
    names = tuple(secret)
    if isinstance(value, str):
        return _mask_header_line(value, names)
    if isinstance(value, Mapping):
        return {key: mask_header(key, item, names) if isinstance(key, str) and isinstance(item, str)
                else mask_value(item, names) for key, item in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(part, str) for part in value):
        return (value[0], mask_header(value[0], value[1], names))
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(item, names) for item in value)
    return value


def mask_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """A DAT's parameter values (``dat.par.as_dict()``) as every face shows them: passwords in ``netaddress``,
    ``proxy`` and any other text masked, and the values of credential headers, those named by ``secretheaders``
    included."""
    secret = tuple(values.get("secretheaders") or ())
    return {name: mask_value(value, secret) for name, value in values.items()}
