"""Server-sent events framing (the `text/event-stream` format), kept pure for unit tests.

Why SSE rather than websockets: the dashboard only pushes state one way, the browser's
EventSource reconnects by itself, and Starlette's StreamingResponse carries it with no extra
dependency; button clicks are ordinary POSTs.
"""

from __future__ import annotations

import json
from typing import Any


def format_event(data: Any, event: str | None = None, event_id: int | str | None = None,
                 retry_ms: int | None = None) -> str:
    """One event: optional `event:`/`id:`/`retry:` fields, the data as compact JSON on `data:`
    lines (a newline inside the JSON would end the field, so every line gets its own prefix),
    and the blank line that ends the event."""
    lines = []
    if event is not None:
        _check_field("event", str(event))
        lines.append(f"event: {event}")
    if event_id is not None:
        _check_field("id", str(event_id))
        lines.append(f"id: {event_id}")
    if retry_ms is not None:
        lines.append(f"retry: {int(retry_ms)}")
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), allow_nan=False)
    for line in text.splitlines() or [""]:
        lines.append(f"data: {line}")
    return "\n".join(lines) + "\n\n"


def comment(text: str = "keep-alive") -> str:
    """A comment line: ignored by EventSource, keeps idle proxies and timeouts from closing the stream."""
    return "".join(f": {line}\n" for line in (text.splitlines() or [""])) + "\n"


def _check_field(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"an SSE {name} field can't contain a line break: {value!r}")
