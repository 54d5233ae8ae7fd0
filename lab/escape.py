r"""Jinja filters that write a value into one config file's grammar so it can't end its field.

Why: the spec's grammars (lab/grammar.py) keep values narrow, but a template must not rely on
that: a loosened grammar, a hand-edited secrets.env or a new field would otherwise put a
newline into my.cnf or a quote into proxysql.cnf. Each filter either quotes and escapes the
value so the file's own parser reads back exactly the value, or, where the grammar has no
escape for a character, refuses to write it (RenderError: one line, nothing rendered).

| filter          | file                               | form                                   |
|-----------------|------------------------------------|----------------------------------------|
| `mycnf`         | MariaDB option files (galera/*.cnf)| "…" with \\ \" \' \n \t \r \b escapes   |
| `galera_options`| wsrep_provider_options (inside it) | k=v;k=v with \\ ; = backslash-escaped   |
| `libconfig_str` | proxysql.cnf                       | "…" with \\ \" and \xHH escapes         |
| `yaml_str`      | compose.yaml                       | YAML "…" with escapes, $ doubled        |
| `php_str`       | PHP configuration                  | '…' with \\ and \' escapes              |
| `sql_str`       | init.sql                           | '…' MariaDB string literal              |
| `keepalived_word`| keepalived.conf                   | a bare word (no quoting there): checked |
| `comment_text`  | any comment                        | printable ASCII only, the rest as ?     |
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lab.errors import RenderError
from lab.grammar import shown


def _text(value: Any, grammar: str) -> str:
    """str(value), refusing lone surrogates: no file can hold them as UTF-8."""
    text = str(value)
    if re.search(r"[\ud800-\udfff]", text):
        raise RenderError(f"{shown(text)} can't be written into {grammar}: it holds an unpaired surrogate")
    return text


_MYCNF_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b"}


def mycnf(value: Any) -> str:
    """A MariaDB option-file value, double-quoted: the server strips the quotes, then unescapes.

    Control characters without an escape there (NUL ends the line for the server) are refused.
    """
    text = _text(value, "a MariaDB option file")
    if re.search(r"[\x00-\x07\x0b\x0c\x0e-\x1f\x7f]", text):
        raise RenderError(f"{shown(text)} can't be written into a MariaDB option file: it holds a control character")
    return '"' + "".join(_MYCNF_ESCAPES.get(c, c) for c in text) + '"'


def galera_options(options: Mapping[str, Any]) -> str:
    """wsrep_provider_options' inner grammar: `k=v;k=v`, sorted, with `\\`, `;` and `=` escaped
    by a backslash as Galera's parser (gu::Config::parse) reads them. Quote it with `mycnf`."""
    def esc(text: Any) -> str:
        return re.sub(r"([\\;=])", r"\\\1", _text(text, "wsrep_provider_options"))
    return ";".join(f"{esc(k)}={esc(v)}" for k, v in sorted(options.items()))


def libconfig_str(value: Any) -> str:
    """A libconfig string (proxysql.cnf): double-quoted, control characters as \\xHH."""
    text = _text(value, "proxysql.cnf")
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", body) + '"'


def _yaml_escape(c: str) -> str:
    code = ord(c)
    if c in '"\\':
        return "\\" + c
    printable = c in "\t" or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD \
        or code >= 0x10000
    if printable and c not in "\u2028\u2029\ufeff":
        return c
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def yaml_str(value: Any) -> str:
    """A YAML double-quoted scalar for compose.yaml; `$` doubled, since Compose interpolates `$VAR`."""
    text = _text(value, "compose.yaml")
    return '"' + "".join(_yaml_escape(c) for c in text).replace("$", "$$") + '"'


def php_str(value: Any) -> str:
    """A PHP single-quoted string literal: only backslash and quote need escaping there."""
    text = _text(value, "a PHP file")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_SQL_ESCAPES = {"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}


def sql_str(value: Any) -> str:
    """A MariaDB string literal (default sql_mode: backslash escapes on)."""
    text = _text(value, "an SQL file")
    return "'" + "".join(_SQL_ESCAPES.get(c, c) for c in text) + "'"


def keepalived_word(value: Any) -> str:
    """A bare keepalived.conf word: keepalived has no quoting for names, so other text is refused."""
    text = _text(value, "keepalived.conf")
    if re.fullmatch(r"[A-Za-z0-9_.:/@-]{1,255}", text) is None:
        raise RenderError(f"{shown(text)} can't be written into keepalived.conf: only letters, digits and "
                          "_ . : / @ - fit a keepalived name")
    return text


def comment_text(value: Any) -> str:
    """Text inside a comment: printable ASCII except what could end a comment (newline, ?>)."""
    return re.sub(r"[^A-Za-z0-9 ._:/@+,()-]", "?", str(value))


FILTERS: dict[str, Callable[..., str]] = {
    "mycnf": mycnf, "galera_options": galera_options, "libconfig_str": libconfig_str, "yaml_str": yaml_str,
    "php_str": php_str, "sql_str": sql_str, "keepalived_word": keepalived_word, "comment_text": comment_text,
}
