"""wsdat-echo: answers every text message with ``echo: <message>``.

The smallest useful plugin, installed through the ``wsdat`` entry-point group exactly as a third-party one is::

    wsdat connect ws://localhost:8765 --callbacks echo

Messages that already start with ``echo: `` are not answered, so two echoing peers cannot loop forever.
"""

from __future__ import annotations

from typing import Any

from wsdat_core import hookimpl

PREFIX = "echo: "


@hookimpl
def onReceiveText(dat: Any, message: str) -> None:
    if not message.startswith(PREFIX):
        dat.sendText(PREFIX, message)
