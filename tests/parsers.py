"""Strict readers of the rendered files, as their real programs read them (for the hostile-input tests).

Why ports and not configparser: configparser splits lines on \\x0b, \\x1c and friends, strips
quotes differently and lowercases keys; a test that agrees with a wrong parser proves nothing.
`read_option_file` follows MariaDB's mysys/my_default.c (checked against `my_print_defaults`
in tests/test_escape.py), `galera_provider_options` Galera's gu::Config::parse.
"""

from __future__ import annotations

import re

_MYCNF_UNESCAPE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "s": " ", '"': '"', "'": "'", "\\": "\\"}


def _remove_end_comment(line: str) -> str:
    """A `#` outside quotes ends the line (my_default.c remove_end_comment)."""
    quote, escape = "", False
    for i, c in enumerate(line):
        if c in "'\"" and not escape:
            if not quote:
                quote = c
            elif quote == c:
                quote = ""
        if not quote and c == "#":
            return line[:i]
        escape = bool(quote) and c == "\\" and not escape
    return line


def _option_value(raw: str) -> str:
    value = raw.strip(" \t\r")
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i != len(value) - 1:
            nxt = value[i + 1]
            out.append(_MYCNF_UNESCAPE.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def read_option_file(text: str) -> dict[str, list[tuple[str, str | None]]]:
    """MariaDB option file → {group: [(option, value or None)]} in file order; `!` lines skipped."""
    groups: dict[str, list[tuple[str, str | None]]] = {}
    current: str | None = None
    for raw in text.split("\n"):
        line = raw.lstrip(" \t")
        if not line or line[0] in "#;" or line.startswith("!"):
            continue
        if line[0] == "[":
            end = line.index("]")
            current = line[1:end].strip()
            groups.setdefault(current, [])
            continue
        assert current is not None, f"option outside a group: {raw!r}"
        line = _remove_end_comment(line)
        name_end = re.match(r"[^\s=]*", line).end()  # type: ignore[union-attr]
        name = line[:name_end]
        rest = line[name_end:].lstrip(" \t")
        if not rest.strip(" \t\r"):
            groups[current].append((name, None))
            continue
        assert rest[0] == "=", f"option without '=': {raw!r}"
        groups[current].append((name, _option_value(rest[1:].lstrip(" \t"))))
    return groups


def _split_escaped(text: str, sep: str) -> list[str]:
    """Split on `sep` not preceded by a backslash escape, keeping the escapes (gu::tokenize)."""
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
        elif text[i] == sep:
            parts.append("".join(cur))
            cur, i = [], i + 1
        else:
            cur.append(text[i])
            i += 1
    parts.append("".join(cur))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def galera_provider_options(text: str) -> dict[str, str]:
    """wsrep_provider_options as Galera reads it; a pair without exactly one `=` is an error."""
    out: dict[str, str] = {}
    for pair in _split_escaped(text, ";"):
        if not pair.strip():
            continue
        kv = _split_escaped(pair, "=")
        assert len(kv) == 2, f"Galera refuses {pair!r}"
        out[_unescape(kv[0].strip())] = _unescape(kv[1].strip())
    return out


def compose_unescape(text: str) -> str:
    """Compose's interpolation of a literal: `$$` is one `$`; a lone `$` would be a variable."""
    assert re.search(r"(?<!\$)\$(?:\$\$)*(?!\$)", text) is None, f"unescaped $ in {text!r}"
    return text.replace("$$", "$")


def parse_keepalived(text: str) -> list[object]:
    """keepalived.conf → nested [keyword, args..., [children]]; braces open and close blocks."""
    root: list[object] = []
    stack = [root]
    for raw in text.split("\n"):
        line = re.split(r"[#!]", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            assert stack, "unbalanced braces"
            continue
        words = line.split()
        if words[-1] == "{":
            block: list[object] = []
            stack[-1].append([*words[:-1], block])
            stack.append(block)
        else:
            assert "{" not in words and "}" not in words, f"stray brace in {raw!r}"
            stack[-1].append(words)
    assert len(stack) == 1, "unbalanced braces"
    return root


def parse_haproxy(text: str) -> dict[str, list[list[str]]]:
    """haproxy.cfg → {section header: [directive words]}; sections start at column 0."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for raw in text.split("\n"):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        assert re.fullmatch(r"[\x20-\x7e]*", line), f"non-printable in {raw!r}"
        if not raw[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            assert current is not None
            sections[current].append(line.split())
    return sections
