"""mkdocs hook: the docstrings use Sphinx roles (``:class:`Storage```), which Markdown renders
as the role's name before a code span; the API reference shows the code span alone."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:py:)?(?:class|attr|meth|func|mod|exc|data|obj):(?=<code>)")


def on_page_content(html: str, **_: Any) -> str:
    return _ROLE.sub("", html)
