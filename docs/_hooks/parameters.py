"""mkdocs hook: replaces ``{{ parameters }}`` with the parameter table generated from ``wsdat_core.model.params.SPECS``
and ``{{ server_parameters }}`` with the Web Server DAT's (``wsdat_core.model.serverparams.SERVER_SPECS``)."""

from typing import Any

from wsdat_core.model.params import parameters_markdown
from wsdat_core.model.serverparams import SERVER_SPECS


def on_page_markdown(markdown: str, **_: Any) -> str:
    markdown = markdown.replace("{{ server_parameters }}", parameters_markdown(SERVER_SPECS))
    return markdown.replace("{{ parameters }}", parameters_markdown())
