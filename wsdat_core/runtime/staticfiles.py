"""Files of the ``static`` folder for plain HTTP GET and HEAD requests (``wsdat serve --static DIR``), when no
``onHTTPRequest`` callback answers: ``/`` and folders give their ``index.html``; nothing outside the folder is ever
served (``..``, symbolic links leading out, absolute paths); the content type follows the file name.
"""

from __future__ import annotations

import mimetypes
import os
from typing import Final
from urllib.parse import unquote

import trio

from ..model.webrequest import ResponseParts

__all__ = ["MAX_FILE", "static_response"]

#: Largest file served (read whole into memory).
MAX_FILE: Final = 64 * 1024 * 1024
_TEXT: Final = (("Content-Type", "text/plain; charset=utf-8"),)


def _resolve(folder: str, uri: str) -> str | None:
    """The file ``uri`` names inside ``folder``, or None when it names nothing there."""
    root = os.path.realpath(folder)
    relative = unquote(uri.split("?", 1)[0]).lstrip("/")
    if "\0" in relative:
        return None
    path = os.path.realpath(os.path.join(root, relative))
    if path != root and not path.startswith(root + os.sep):
        return None
    if os.path.isdir(path):
        path = os.path.join(path, "index.html")
    return path if os.path.isfile(path) else None


def _read(path: str) -> bytes | None:
    try:
        if os.path.getsize(path) > MAX_FILE:
            return None
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None


async def static_response(folder: str, method: str, uri: str) -> ResponseParts:
    """The answer to ``method uri`` from ``folder``: the file, 404, or 405 for methods other than GET and HEAD."""
    if method not in ("GET", "HEAD"):
        return ResponseParts(405, "Method Not Allowed", (*_TEXT, ("Allow", "GET, HEAD")),
                             f"405 Method Not Allowed: {method}; the static folder answers GET and HEAD\n".encode())
    path = _resolve(folder, uri)
    body = None if path is None else await trio.to_thread.run_sync(_read, path)
    if path is None or body is None:
        return ResponseParts(404, "Not Found", _TEXT, f"404 Not Found: {uri}\n".encode())
    kind, encoding = mimetypes.guess_type(path)
    kind = kind or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    headers = (("Content-Type", kind),) + ((("Content-Encoding", encoding),) if encoding else ())
    return ResponseParts(200, "OK", headers, body)
