"""Grammars of the spec's free-text values, each with the words a refusal shows the user.

Why a module of its own: a value typed in a hurry (or assembled by CI from variables) reaches
MariaDB option files, libconfig, keepalived, Compose and PHP. Checking each one against the
narrow grammar its real consumer accepts, before anything is written, turns a hostile or
careless value into one line that names the key, shows the value safely and says what is
accepted; pydantic's own `String should match pattern '^[0-9]…'` says none of that.
The templates escape every value again (lab/escape.py), so a grammar that is too loose can
make a lab that fails to start, never one whose config says something the user did not write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

SHOWN_MAX = 40  # characters of a refused value shown back; the rest is elided


def shown(value: Any, limit: int = SHOWN_MAX) -> str:
    """A value as a refusal quotes it: repr (so newlines and quotes are visible), truncated."""
    text = repr(str(value) if isinstance(value, Path) else value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """`text` with every non-printable character written as its escape: one line, always."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Grammar:
    """A regular grammar with the plain-words description a refusal quotes."""

    pattern: str
    accepts: str  # completes "expected …"

    def check(self, value: str) -> str:
        """The value unchanged when it matches; else a ValueError naming value and grammar."""
        if re.fullmatch(self.pattern, value) is None:
            raise ValueError(f"{shown(value)} refused: expected {self.accepts}")
        return value


_NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
PROJECT = Grammar(r"[a-z0-9][a-z0-9_-]{0,30}",
                  "1 to 31 lower-case letters, digits, - or _, starting with a letter or digit, e.g. my-lab")
SIZE = Grammar(r"[1-9][0-9]{0,15}[KMGTkmgt]?", "a size in bytes with an optional K, M, G or T suffix, e.g. 64M or 1G")
VERSION = Grammar(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,3}", "a release number such as 2.7.3")
CHAMILO_VERSION = Grammar(r"[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,3}(?:\.[0-9]{1,3})?",
                          "a Chamilo release number such as 1.11.26")
# [registry[:port]/]name[/name…][:tag][@sha256:digest], as `docker build`/`docker pull` accept it
IMAGE_REF = Grammar(rf"(?=.{{1,255}}$)(?:{_NAME}(?::[0-9]{{1,5}})?/)?{_NAME}(?:/{_NAME})*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?",
                    "a Docker image reference such as mariadb:10.11 or registry:5000/team/proxysql:2.7.3 "
                    "(lower-case name, optional :tag)")
SHA256 = Grammar(r"(?:[0-9a-f]{64})?", "64 lower-case hex digits as sha256sum prints them, or nothing")
IFNAME = Grammar(r"[A-Za-z0-9_-]{1,15}", "a network interface name of 1 to 15 letters, digits, - or _")
PROVIDER_KEY = Grammar(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+",
                       "a Galera option name: lower-case words joined by dots, e.g. gcache.size")
PROVIDER_VALUE = Grammar(r"[A-Za-z0-9_.:/,+@-]{1,256}",
                         "a Galera option value of letters, digits and _ . : / , + @ - (no spaces, quotes, ; or =), "
                         "e.g. 64M, PT5S or yes")
# ISO 8601 periods as Galera reads its timeouts: PT5S, PT0.5S, PT1M30S
DURATION = Grammar(r"PT(?=[0-9])(?:[0-9]{1,4}H)?(?:[0-9]{1,4}M)?(?:[0-9]{1,6}(?:\.[0-9]{1,3})?S)?",
                   "an ISO 8601 period such as PT5S, PT0.5S or PT1M")
PATH = Grammar(r"[^\x00-\x1f\x7f]{1,4096}", "a file path of printable characters")


def duration_seconds(text: str) -> float:
    """Seconds of a DURATION (checked first): the lab derives its deadlines from Galera's timers."""
    DURATION.check(text)
    m = re.fullmatch(r"PT(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9.]+)S)?", text)
    assert m is not None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def _scalar_text(value: Any) -> Any:
    """Numbers and booleans as YAML gives them (`pc.weight: 2`, `pc.ignore_sb: true`) become text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def _size_text(value: Any) -> Any:
    """A plain byte count (`innodb_buffer_pool_size: 134217728`) is a size too."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _path_check(suffixes: tuple[str, ...]) -> Any:
    """A file path of printable characters, ending in one of `suffixes` when given (what the build copies)."""
    def check(value: Path) -> Path:
        PATH.check(str(value))
        if suffixes and not str(value).endswith(suffixes):
            raise ValueError(f"{shown(value)} refused: expected the path of a {' or '.join(suffixes)} file")
        return value
    return check


Project = Annotated[str, AfterValidator(PROJECT.check)]
Size = Annotated[str, BeforeValidator(_size_text), AfterValidator(SIZE.check)]
Version = Annotated[str, AfterValidator(VERSION.check)]
ChamiloVersion = Annotated[str, AfterValidator(CHAMILO_VERSION.check)]
ImageRef = Annotated[str, AfterValidator(IMAGE_REF.check)]
Sha256 = Annotated[str, AfterValidator(SHA256.check)]
IfName = Annotated[str, AfterValidator(IFNAME.check)]
ProviderKey = Annotated[str, AfterValidator(PROVIDER_KEY.check)]
ProviderValue = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(PROVIDER_VALUE.check)]
DebPath = Annotated[Path, AfterValidator(_path_check((".deb",)))]
# the archive's suffix is checked where it is copied (lab/chamilo.py prepare_archive)
ArchivePath = Annotated[Path, AfterValidator(_path_check(()))]
