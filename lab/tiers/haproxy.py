"""HAProxy tier: routing by listener (a writer port and a reader port), Galera health by HTTP.

HAProxy is a TCP proxy: it cannot read statements, so the application must send reads to the
reader port itself, and a client session stays on the backend its connection reached (pinned).
Every node's health comes from its clustercheck endpoint (200 only when Synced and Primary).
"""

from __future__ import annotations

import csv
import io
import urllib.request
from collections.abc import Callable
from typing import Any

import jinja2

from lab import images as img
from lab import reach
from lab.tiers.base import Backend, Files, ProxyTier, ServiceShape

CONFIG = "haproxy/haproxy.cfg"
CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"  # where the Debian and the official images read it


class HAProxyTier(ProxyTier):
    kind = "haproxy"
    title = "HAProxy"
    routes_by_statement = False
    pins_sessions = True
    pools_connections = False  # one backend connection per client connection
    checks_client_passwords = False  # TCP: MariaDB checks the login
    serves_desynced_reader = False  # the clustercheck answers 503 unless Synced
    pinning_reference = "HAProxy forwards TCP: a session stays on the backend it reached"
    rendered_paths = (CONFIG,)

    def image(self) -> img.ImageDef:
        return img.haproxy_image()

    def files(self, env: jinja2.Environment, ctx: dict[str, Any]) -> Files:
        return {CONFIG: (env.get_template("haproxy.cfg.j2").render(ctx), False)}

    def service(self) -> ServiceShape:
        # the image's own command (compose/images/haproxy): master-worker, in the foreground
        return ServiceShape(volumes=(f"./{CONFIG}:{CONFIG_PATH}:ro",),
                            launch=("haproxy", "-W", "-db", "-f", CONFIG_PATH))

    @property
    def read_port(self) -> int:
        return self.spec.proxy.reader_port

    @property
    def route_classes(self) -> dict[str, str]:
        # "select" is sent through the reader listener, "write" through the writer listener
        return {"select": "readers", "write": "writer"}

    def backends(self, proxy: str, secrets: dict[str, str]) -> list[Backend]:
        """From HAProxy's stats CSV: one row per server per listener."""
        url = reach.url(str(self.spec.proxy_backend_address(proxy)), self.spec.proxy.stats_port, "/;csv")
        with urllib.request.urlopen(url, timeout=2) as resp:
            rows = list(csv.reader(io.StringIO(resp.read().decode().lstrip("# "))))
        header, body = rows[0], rows[1:]
        px, sv, st = header.index("pxname"), header.index("svname"), header.index("status")
        return [Backend(r[sv], r[px].removeprefix("galera-"), "UP" if r[st].startswith("UP") else r[st])
                for r in body
                if r and r[px] in ("galera-writer", "galera-reader") and r[sv] not in ("FRONTEND", "BACKEND")]

    def rotate_credentials(self, proxies: list[str], old: dict[str, str], new: dict[str, str],
                           say: Callable[[str], None]) -> None:
        """Nothing to switch: HAProxy holds no credential. Its health check is each node's
        clustercheck (root over the node's own socket, compose/images/galera/clustercheck), its
        stats page has none, and it forwards clients' logins to MariaDB untouched (TCP), so the
        passwords clients present are checked by MariaDB alone."""
        say(f"HAProxy: no credentials of its own ({', '.join(proxies) or 'no proxy running'}); logins pass through")

    @property
    def version_command(self) -> list[str]:
        return ["haproxy", "-v"]
