"""ProxySQL tier: routing by statement on one port, Galera-aware hostgroups, a ProxySQL cluster.

ProxySQL reads every statement: writes, `SELECT … FOR UPDATE` and whole transactions go to the
single writer (hostgroup 10), plain SELECTs to the readers (hostgroup 30); its Galera monitor
moves nodes between the writer, backup-writer, reader and offline hostgroups. A client
session is not pinned to one backend connection (multiplexing, sysown/proxysql#3333), which is
why a per-session `wsrep_sync_wait` does not hold through it.

Where the image comes from (`proxy.proxysql_source`):
- `package`: ProxySQL's own APT repository, verified by apt against the repository's signing key
  (needs internet);
- `official`: the `proxysql/proxysql` image (needs a registry);
- `deb`: a `.deb` the user downloaded elsewhere (`proxy.proxysql_deb`), installed offline;
- `image`: any local image with a `proxysql` binary on its PATH (`proxy.proxysql_image`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import jinja2
import pymysql

from lab import db
from lab import images as img
from lab.errors import LabError
from lab.paths import IMAGES
from lab.tiers.base import Availability, Backend, Files, ProxyDetails, ProxyTier, ServiceShape

CONFIG = "secrets/proxysql.cnf"
DATADIR = "/var/lib/proxysql"
HOSTGROUPS = {10: "writer", 20: "backup-writer", 30: "reader", 9999: "offline"}
# configuration the two proxies keep in sync through the ProxySQL cluster (proxysql.cnf.j2)
SYNCED_MODULES = ("mysql_query_rules", "mysql_servers_v2", "mysql_users", "proxysql_servers")
DEB_DIR = IMAGES / "proxysql" / "deb"
# mysql_users rows proxysql.cnf.j2 renders → the secret holding their password
MYSQL_USERS = {"chamilo": "APP_PASSWORD", "lab_admin": "LAB_ADMIN_PASSWORD"}
ADMIN_USER = "radmin"  # the remote admin (admin_credentials in proxysql.cnf.j2)
ACCESS_DENIED = 1045


class ProxySQLTier(ProxyTier):
    kind = "proxysql"
    title = "ProxySQL"
    routes_by_statement = True
    pins_sessions = False
    pools_connections = True
    checks_client_passwords = True  # mysql_users: one password per user
    # its Galera monitor takes a node out for wsrep_desync=ON, not for the Donor/Desynced state
    # FLUSH TABLES WITH READ LOCK puts it in (MySQL_Monitor.cpp; measured: 2,171 writesets behind
    # and still ONLINE in the reader hostgroup)
    serves_desynced_reader = True
    pinning_reference = "multiplexing: a session's statements may use different backend connections, sysown/proxysql#3333"
    rendered_paths = (CONFIG,)

    # ---- image ----

    def image(self) -> img.ImageDef:
        p = self.spec.proxy
        ctx = IMAGES / "proxysql"
        if p.proxysql_source == "image":
            assert p.proxysql_image is not None  # the spec refuses source=image without one
            return img.ImageDef("proxy", p.proxysql_image, ctx, external=True,
                                missing_hint=(f"proxy.proxysql_image names {p.proxysql_image}, which is not on this "
                                              "machine: `docker load -i FILE` or `docker tag SOME-IMAGE "
                                              f"{p.proxysql_image}` (any image with a proxysql binary on its PATH)"))
        if p.proxysql_source == "official":
            return img.ImageDef("proxy", img.tag(f"proxysql:{p.proxysql_version}-official"), ctx,
                                "Dockerfile.official", {"PROXYSQL_VERSION": p.proxysql_version},
                                needs_base=False, offline=False)
        if p.proxysql_source == "deb":
            return img.ImageDef("proxy", img.tag(f"proxysql:{p.proxysql_version}-deb"), ctx, "Dockerfile.deb",
                                {"BASE_IMAGE": img.base_image()}, include_only=("Dockerfile.deb", "deb"))
        return img.ImageDef("proxy", img.tag(f"proxysql:{p.proxysql_version}"), ctx, "Dockerfile",
                            {"BASE_IMAGE": img.base_image(), "PROXYSQL_VERSION": p.proxysql_version,
                             "PROXYSQL_SERIES": ".".join(p.proxysql_version.split(".")[:2]) + ".x"},
                            offline=False, include_only=("Dockerfile",))

    def prepare_build(self) -> None:
        """Copy a user's `.deb` into the build context (the `deb` source), replacing an older one."""
        deb = self.spec.proxy.proxysql_deb
        if self.spec.proxy.proxysql_source != "deb" or deb is None:
            return
        if not deb.is_file():
            raise LabError(f"proxy.proxysql_deb {deb} is not a file; download ProxySQL's Debian 12 package "
                           f"(proxysql_{self.spec.proxy.proxysql_version}-debian12_amd64.deb) and give its path")
        DEB_DIR.mkdir(exist_ok=True)
        for old in DEB_DIR.glob("*.deb"):
            if old.name != deb.name:
                old.unlink()
        target = DEB_DIR / deb.name
        if not target.exists() or target.stat().st_size != deb.stat().st_size:
            shutil.copyfile(deb, target)

    def availability(self, present: Callable[[str], bool]) -> Availability:
        p = self.spec.proxy
        tag = self.image().tag
        if present(tag):
            return Availability(True, f"image {tag} is on this machine")
        if p.proxysql_source == "deb" and p.proxysql_deb is not None and p.proxysql_deb.is_file():
            return Availability(True, f"{p.proxysql_deb} builds {tag} offline")
        how = {
            "image": f"proxy.proxysql_image names {tag}, which is not on this machine (load it with "
                     f"`docker load -i FILE`, or `docker tag` any local image with a proxysql binary as {tag})",
            "official": f"no {tag} here; `galera-lab images --set proxy.kind=proxysql "
                        "--set proxy.proxysql_source=official` builds it where Docker Hub can be reached",
            "deb": "proxy.proxysql_deb is not set to an existing ProxySQL .deb",
            "package": f"no {tag} here; `galera-lab images --set proxy.kind=proxysql` builds it from ProxySQL's "
                       "APT repository (internet), or bring your own: proxy.proxysql_image or proxy.proxysql_deb",
        }[p.proxysql_source]
        return Availability(False, how)

    # ---- files and service ----

    def files(self, env: jinja2.Environment, ctx: dict[str, Any]) -> Files:
        return {CONFIG: (env.get_template("proxysql.cnf.j2").render(ctx, hostgroups=HOSTGROUPS), True)}

    def service(self) -> ServiceShape:
        # --initial: ProxySQL reads proxysql.cnf only without a proxysql.db in its datadir; the
        # datadir is a tmpfs anyway, so every start begins from the rendered file (DESIGN.md).
        # user 0: the rendered config holds the credentials, mode 0600 for the host's user, and
        # the tmpfs is root's; an image built with `USER proxysql` (seen with a brought image)
        # could read neither and exit at once. The official image runs as root too.
        return ServiceShape(
            volumes=(f"./{CONFIG}:/etc/proxysql.cnf:ro",),
            launch=("proxysql", "-f", "--initial", "-c", "/etc/proxysql.cnf", "-D", DATADIR),
            tmpfs=(DATADIR,),
            user="0:0",
            # In the foreground (-f, as in the official image) ProxySQL runs without its angel
            # process, which restarts it after a crash. Seen here: 2.7.1 crashing at start in
            # MySQL_HostGroups_Manager::commit (exit 139, cf. sysown/proxysql#3233) in one of
            # a dozen starts. Docker restarts it instead; `docker kill`/`stop`, the chaos
            # suite's faults, count as stopped by hand and are not restarted.
            restart="on-failure:3",
        )

    @property
    def route_classes(self) -> dict[str, str]:
        return {"select": "readers", "write": "writer", "select_for_update": "writer",
                "select_in_transaction": "writer"}

    # ---- the running proxy ----

    def admin(self, proxy: str, secrets: dict[str, str], timeout: float = 2.0) -> Any:
        """A session on `proxy`'s admin interface as the remote admin `radmin`."""
        return db.session(str(self.spec.proxy_backend_address(proxy)), self.spec.proxy.admin_port, "radmin",
                          secrets["PROXYSQL_ADMIN_PASSWORD"], timeout=timeout)

    def _node_names(self) -> dict[str, str]:
        return {str(self.spec.node_address(n)): n for n in self.spec.node_names}

    def backends(self, proxy: str, secrets: dict[str, str]) -> list[Backend]:
        """From runtime_mysql_servers: a node is UP in a role when ONLINE in that role's hostgroup;
        in the offline hostgroup it is OFFLINE whatever ProxySQL's status column says."""
        with self.admin(proxy, secrets) as conn:
            rows = db.query(conn, "SELECT hostgroup_id, hostname, status FROM runtime_mysql_servers "
                                  "ORDER BY hostgroup_id, hostname")
        return backends_from_rows(rows, self._node_names())

    def settled(self, backends: list[Backend]) -> bool:
        """One writer UP, every node UP in some role and none offline (ProxySQL keeps the other
        nodes' rows in the writer hostgroup SHUNNED while max_writers=1, so not every row is UP)."""
        writers = [b.name for b in backends if b.role == "writer" and b.status == "UP"]
        up = {b.name for b in backends if b.status == "UP"}
        offline = {b.name for b in backends if b.role == "offline"}
        return len(writers) == 1 and up == set(self.spec.node_names) and not offline

    def details(self, proxy: str, secrets: dict[str, str]) -> ProxyDetails:
        """Hostgroups with their ONLINE members, and whether the ProxySQL cluster agrees."""
        names = self._node_names()
        with self.admin(proxy, secrets) as conn:
            servers = db.query(conn, "SELECT hostgroup_id, hostname, status FROM runtime_mysql_servers")
            sums = db.query(conn, "SELECT hostname, name, version, checksum FROM stats_proxysql_servers_checksums")
        groups: dict[str, list[str]] = {role: [] for role in HOSTGROUPS.values()}
        for hg, host, status in sorted(servers, key=lambda r: (int(r[0]), names.get(r[1], r[1]))):
            if status == "ONLINE":
                groups.setdefault(HOSTGROUPS.get(int(hg), str(hg)), []).append(names.get(host, host))
        return ProxyDetails(hostgroups=groups, cluster=cluster_sync(sums, self.spec))

    def rotate_credentials(self, proxies: list[str], old: dict[str, str], new: dict[str, str],
                           say: Callable[[str], None]) -> None:
        """ProxySQL checks its clients' passwords itself and logs in with its own credentials to
        the nodes (the users' and the monitor's) and to its peer (the cluster credential): all of
        them change on each running proxy through its admin interface, saved to disk and loaded
        to runtime, on admin sessions opened once with the old radmin password (an open admin
        session is not closed when the credentials change).

        First what no client sees, on every proxy: the monitor's password (the nodes accept both
        now) and the admin credentials (radmin, and the cluster credential each proxy checks when
        its peer polls it and presents when it polls the peer: between the two proxies' LOADs
        they disagree on it, their polls of each other fail for that moment and nothing is
        synced; both end with the same values). Last, and back to back, mysql_users on the other
        proxy then on the VIP holder: the password a client presents to ProxySQL is also the one
        ProxySQL presents to the nodes. ProxySQL keeps one password per user, so from that LOAD
        on (or the peer's, which the ProxySQL cluster copies to the holder within
        3 × cluster_check_interval_ms) a new login with the old password is refused: this
        returns at once so that lab/rotate.py switches the clients right after. Sessions already
        open are not closed.
        """
        with ExitStack() as stack:
            sessions = {p: stack.enter_context(self._admin_either(p, old, new)) for p in proxies}
            for proxy, conn in sessions.items():
                current = {str(k): str(v) for k, v in db.query(
                    conn, "SELECT variable_name, variable_value FROM global_variables "
                          "WHERE variable_name IN ('admin-admin_credentials', 'admin-cluster_username')")}
                cluster_user = current.get("admin-cluster_username") or "cluster"
                credentials = replace_credentials(current.get("admin-admin_credentials", ""), {
                    ADMIN_USER: new["PROXYSQL_ADMIN_PASSWORD"], cluster_user: new["PROXYSQL_CLUSTER_PASSWORD"]})
                for name, value in (("mysql-monitor_password", new["MONITOR_PASSWORD"]),
                                    ("admin-admin_credentials", credentials),
                                    ("admin-cluster_password", new["PROXYSQL_CLUSTER_PASSWORD"])):
                    db.query(conn, "UPDATE global_variables SET variable_value = %s WHERE variable_name = %s",
                             (value, name))
                for statement in ("SAVE MYSQL VARIABLES TO DISK", "LOAD MYSQL VARIABLES TO RUNTIME",
                                  "SAVE ADMIN VARIABLES TO DISK", "LOAD ADMIN VARIABLES TO RUNTIME"):
                    db.query(conn, statement)
            for proxy, conn in sessions.items():
                for user, secret in MYSQL_USERS.items():
                    db.query(conn, "UPDATE mysql_users SET password = %s WHERE username = %s", (new[secret], user))
                db.query(conn, "SAVE MYSQL USERS TO DISK")
            for conn in sessions.values():  # the clients' switch: loads only, back to back
                db.query(conn, "LOAD MYSQL USERS TO RUNTIME")
        say(f"ProxySQL: monitor, admin, cluster and mysql_users credentials switched on {', '.join(proxies)}")

    @contextmanager
    def _admin_either(self, proxy: str, old: dict[str, str], new: dict[str, str]) -> Iterator[Any]:
        """An admin session with the old radmin password, or the new one where a rotation that was
        interrupted already switched this proxy."""
        host, port = str(self.spec.proxy_backend_address(proxy)), self.spec.proxy.admin_port
        conn = None
        for secrets in (old, new):
            try:
                conn = db.connect(host, port, ADMIN_USER, secrets["PROXYSQL_ADMIN_PASSWORD"], timeout=5)
                break
            except pymysql.MySQLError as exc:
                if not (exc.args and exc.args[0] == ACCESS_DENIED):
                    raise LabError(f"{proxy}'s admin interface ({host}:{port}) can't be reached: {exc}") from None
        if conn is None:
            raise LabError(f"{proxy}'s admin interface refuses {ADMIN_USER} with the old and with the new "
                           "password; was it changed by hand?")
        try:
            yield conn
        finally:
            conn.close()

    @property
    def version_command(self) -> list[str]:
        return ["proxysql", "--version"]


def replace_credentials(credentials: str, updates: dict[str, str]) -> str:
    """ProxySQL's `user:pw;user:pw` (admin-admin_credentials) with the passwords of `updates`
    replaced, order and other users kept; a user of `updates` not in the list is appended."""
    out, seen = [], set()
    for item in filter(None, credentials.split(";")):
        user, _, password = item.partition(":")
        if user in updates:
            password = updates[user]
            seen.add(user)
        out.append(f"{user}:{password}")
    out += [f"{user}:{pw}" for user, pw in updates.items() if user not in seen]
    return ";".join(out)


def backends_from_rows(rows: list[tuple[Any, ...]], names: dict[str, str]) -> list[Backend]:
    """runtime_mysql_servers rows (hostgroup, address, status) as Backends named by node."""
    out = []
    for hg, host, status in rows:
        role = HOSTGROUPS.get(int(hg), str(hg))
        shown = "OFFLINE" if role == "offline" else ("UP" if status == "ONLINE" else str(status))
        out.append(Backend(names.get(host, host), role, shown))
    return out


def cluster_sync(rows: list[tuple[Any, ...]], spec: Any) -> dict[str, Any]:
    """From stats_proxysql_servers_checksums (hostname, module, version, checksum): per synced
    module, the checksum each peer reports; in sync when every peer reports the same one.

    Why these modules: they are the configuration the proxies share (rules, servers, users,
    peers); runtime variables and admin credentials are each proxy's own.
    """
    peers = {str(spec.proxy_backend_address(p)): p for p in spec.proxy_names}
    modules: dict[str, dict[str, str]] = {}
    for host, module, version, checksum in rows:
        if module in SYNCED_MODULES and int(version or 0) > 0:
            modules.setdefault(str(module), {})[peers.get(host, host)] = str(checksum)
    seen_all = all(len(by_peer) == len(peers) for by_peer in modules.values()) and len(modules) == len(SYNCED_MODULES)
    in_sync = seen_all and all(len(set(by_peer.values())) == 1 for by_peer in modules.values())
    return {"in_sync": in_sync, "peers": sorted(peers.values()), "modules": modules}
