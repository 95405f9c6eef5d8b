"""mkdocs hook: replaces ``{{ parameters }}`` with the parameter table generated from ``wsdat_core.model.params.SPECS``."""

from typing import Any

from wsdat_core.model.params import parameters_markdown


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace("{{ parameters }}", parameters_markdown())
