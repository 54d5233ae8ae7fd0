"""The MariaDB releases the lab can run, each tied to the Debian release that packages it.

Why a table: without a registry a MariaDB version exists here only as Debian packages on the
machine's own mirror, so choosing a version chooses a Debian suite; the base image, the Galera
image's name and the official image for registry users all follow from that one choice, and a
version without a row is refused before anything is built. Only the Galera image follows it: the
proxies, Keepalived and the application stay on APP_DEBIAN (docs/ARCHITECTURE.md says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from lab.grammar import shown


@dataclass(frozen=True)
class Release:
    """One supported MariaDB series and where its packages come from."""

    version: str  # MariaDB major.minor, as `galera.version` takes it
    debian: str  # the Debian suite whose mariadb-server is this series
    official_image: str  # the official image's reference, for `galera.source: official`


RELEASES: dict[str, Release] = {r.version: r for r in (
    Release("10.11", "bookworm", "mariadb:10.11"),
    Release("11.8", "trixie", "mariadb:11.8"),
)}
DEFAULT_VERSION = "10.11"
# the Debian release of every image but the Galera one: bookworm's PHP 8.2 is what Chamilo 1.11
# supports, and keeping HAProxy 2.6 and Keepalived 2.2 fixed keeps a comparison of two database
# versions about the database alone
APP_DEBIAN = "bookworm"


def available() -> str:
    """The supported versions as a refusal lists them: `10.11 (Debian bookworm), 11.8 (…)`."""
    return ", ".join(f"{r.version} (Debian {r.debian})" for r in RELEASES.values())


def _version_text(value: Any) -> Any:
    """YAML reads an unquoted `11.8` as a number: take it as the text it was written as."""
    return str(value) if isinstance(value, float) else value


def _known(value: str) -> str:
    if value not in RELEASES:
        raise ValueError(f"{shown(value)} refused: expected one of {available()}")
    return value


def series_of(image: str) -> str | None:
    """The MariaDB major.minor an image reference's tag names (`mariadb:11.8.2-noble` → 11.8), or None."""
    name, _, tag = image.partition("@")[0].rpartition(":")
    if not name or "/" in tag:
        return None
    parts = tag.split("-")[0].split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


MariaDBVersion = Annotated[str, BeforeValidator(_version_text), AfterValidator(_known)]
