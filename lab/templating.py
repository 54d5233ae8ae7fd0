"""One Jinja2 setup for every template the lab renders (stack files, Chamilo's configuration).

Strict on purpose: an undefined variable is an error, never an empty string in a config file.
Every environment carries the escaping filters of lab/escape.py, so a template writes each
user-derived value through the filter of its file's grammar.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from lab.escape import FILTERS


def environment(folder: Path, filters: dict[str, Callable[..., Any]] | None = None,
                trim: bool = True) -> jinja2.Environment:
    """Templates under `folder` with the escaping filters and `filters`; `trim` drops the newline
    after a block tag (config templates)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=trim,
        lstrip_blocks=trim,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.filters.update(filters or {})
    return env
