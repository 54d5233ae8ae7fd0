"""`galera-lab secrets rotate`: new passwords for every generated secret, on a running lab
without losing a write, or (lab down) just new files.

Why not "ALTER USER, then tell everyone": MariaDB checks a password only when a connection
logs in, so whoever logs in between the ALTER USER and the moment it learns the new password
is refused. MariaDB 10.4+ lets an account accept several authentications
(`IDENTIFIED VIA mysql_native_password USING '*old' OR mysql_native_password USING '*new'`),
which turns the switch into three phases with no instant where a consumer's password is wrong:

1. **both**: every lab account (lab_admin, chamilo, monitor, sst) accepts the old and the new
   password. One ALTER USER per account on one Synced node; Galera replicates it in total order
   (TOI) to every node, and lab_admin is altered last, so a node that accepts lab_admin's new
   password has applied all four. Sessions already open are not touched: MariaDB never checks a
   logged-in session's password again. The running nodes' `wsrep_sst_auth` (mariabackup SST)
   is set to the new password now, while both are valid.
2. **switch the consumers**, each through its own interface: the proxy tier
   (`ProxyTier.rotate_credentials`: ProxySQL's monitor, admin and cluster credentials, then
   mysql_users, through its admin interface on both proxies, the VIP holder last; HAProxy holds
   none); right after, the clients: secrets.env (what the lab's own tools read, replaced by a
   rename) and the application, whose new config was staged beside each copy it reads before
   the proxies switched: one `docker exec` renames them over the copies (a reader sees the old
   file or the new one); behind ProxySQL it also restarts Apache gracefully, which drops PHP's
   opcache copy of the old config at once (else PHP re-reads it within
   `opcache.revalidate_freq`, 2 s, which is fine while MariaDB takes both) and lets requests in
   flight finish (`AppSwitch` says why not always). Then the stack is re-rendered, so init.sql, proxysql.cnf, the
   app config and sst.cnf hold the new values (the bind-mounted files are rewritten in place:
   the containers see them, none is recreated).
3. **new only**: ALTER USER … IDENTIFIED BY PASSWORD '*new' on one node: old passwords are
   refused from here on, on every node.

Passwords reach MariaDB as mysql_native_password hashes (`'*' + SHA1(SHA1(pw))`), so the
statement text that Galera replicates and SHOW PROCESSLIST shows holds no password;
`SET GLOBAL wsrep_sst_auth` is the exception (the server needs the clear text, and the
statement is not replicated or logged). Before anything changes, the new values go to
`secrets.next.env` and the old ones to `secrets.prev.env` (both 0600, removed at the end), so a
rotation that is interrupted resumes with the same values the next time it runs (every step
sets a state, none toggles one). Values are never printed, and never on a command line: files
go into containers through the engine's archive API.

What window remains, and why no acknowledged write is lost:
- HAProxy forwards the client's own login to MariaDB, which accepts both passwords for the
  whole of phase 2: no login is refused by the rotation. A client still holding the old
  password after phase 3 (one that read it before the rotation and reconnects later) is
  refused at login, the same as after any password change.
- ProxySQL checks a client's password itself, against one password per user (2.7 has no dual
  passwords). From the first `LOAD MYSQL USERS TO RUNTIME` (the ProxySQL cluster copies it to
  the VIP holder within 3 × cluster_check_interval_ms, if the holder's own LOAD, next, is not
  first) until the client learns the new password (the lab's tools: secrets.env, written
  next; the app: its one-exec swap and graceful restart, then the time its new Apache children
  take to start), *new* connections presenting the old password are refused at login; after phase 3, a ProxySQL client session
  opened before the switch keeps the old password for the backend connections it opens
  (ProxySQL keeps the password a session logged in with): it works while the pool has a
  backend connection made with it, and when it needs a new one that statement fails with an
  access error and the client must reconnect. Backend connections in ProxySQL's pool stay
  logged in; new ones log in with the new password, which phase 1 made valid before ProxySQL
  learnt it, so the pool never holds a password MariaDB refuses during the switch.
- Every refusal above happens at login or before a statement reaches a node, so the client
  gets an error for a write that was never executed; no write the database acknowledged
  depends on a password, and nothing here restarts a node or a proxy, so none is lost.
- Other galera-lab processes already running (a chaos run, a stale-read study) read
  secrets.env when they started and are refused after phase 3 when they open a connection.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import docker.errors
import pymysql

from lab import chamilo, db
from lab.errors import LabError
from lab.render import (PINNED_NAMES, SECRET_NAMES, check_secrets, new_secret, read_secrets_file, rendered_files,
                        write_secrets)

if TYPE_CHECKING:
    from lab.runtime import Lab

Say = Callable[[str], None]
Secrets = dict[str, str]

# while a rotation runs (0600, removed when it is done): the new values, and the old ones, which
# stay valid until the last phase and which an interrupted rotation needs to resume
PENDING = "secrets.next.env"
PREVIOUS = "secrets.prev.env"
ACCESS_DENIED = 1045


@dataclass(frozen=True)
class Account:
    """A MariaDB account the lab creates (compose/templates/init.sql.j2) and the secret it uses."""

    user: str
    host: str
    secret: str

    @property
    def name(self) -> str:
        return f"'{self.user}'@'{self.host}'"


# lab_admin last: a node that accepts its new password has applied the ALTERs before it (TOI order)
ACCOUNTS = (
    Account("chamilo", "%", "APP_PASSWORD"),
    Account("monitor", "%", "MONITOR_PASSWORD"),
    Account("sst", "localhost", "SST_PASSWORD"),
    Account("lab_admin", "%", "LAB_ADMIN_PASSWORD"),
)

# the application's config inside its running container: the stack file it is rendered to, and
# the copies its entrypoint made for www-data (probe: chamilo/probe/rootfs/usr/local/bin/apache2-foreground)
APP_CONFIGS: dict[str, tuple[str, tuple[str, ...]]] = {
    "probe": ("secrets/app-config.php", ("/etc/lab-app/config.php",)),
    "chamilo": (chamilo.CONFIG_FILE, chamilo.RUNNING_CONFIG_COPIES),
}
# after the graceful restart: Apache's old children finish the requests they were serving
# (with the old config, on connections already logged in) before the old passwords go
APP_SETTLE_S = 2.0
# without a restart: PHP's opcache re-reads a changed file at most opcache.revalidate_freq
# seconds later (2, Debian's default, which the app images keep), plus a margin
APP_PICKUP_S = 3.0


# ---- pure parts ----

def native_hash(password: str) -> str:
    """mysql_native_password's stored form of `password`: '*' + upper-case hex SHA1(SHA1(pw))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def both_passwords_sql(account: Account, old: str, new: str) -> str:
    """ALTER USER letting `account` log in with either password (phase 1)."""
    return (f"ALTER USER {account.name} IDENTIFIED VIA mysql_native_password USING '{native_hash(old)}' "
            f"OR mysql_native_password USING '{native_hash(new)}'")


def new_password_sql(account: Account, new: str) -> str:
    """ALTER USER leaving `account` the new password only (phase 3)."""
    return f"ALTER USER {account.name} IDENTIFIED BY PASSWORD '{native_hash(new)}'"


def next_secrets(old: Secrets, app_kind: str, make: Callable[[], str] = new_secret) -> Secrets:
    """A new value for every generated secret; values an installed application keeps are carried over.

    Chamilo stored a security key and its admin's password at install, both derived from the
    APP_PASSWORD of that time; they are pinned with their current values (lab/chamilo.py), since a
    new APP_PASSWORD must not change what is in Chamilo's database."""
    new = {name: make() for name in SECRET_NAMES}
    if app_kind == "chamilo":
        new.update(chamilo.pinned_values(old))
    else:
        new.update({n: old[n] for n in PINNED_NAMES if n in old})
    return new


def in_container_tar(name: str, text: str, uid: int, gid: int, mode: int) -> bytes:
    """A one-file tar for the engine's archive API (how content reaches a container without a command line)."""
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.uid, info.gid, info.mtime = len(data), mode, uid, gid, int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ---- the rotation ----

@dataclass
class Rotation:
    """What a rotation did, for the CLI's summary and the tests (never a secret's value)."""

    online: bool
    secrets: list[str]
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, time.time() when done)
    resumed: bool = False

    def mark(self, step: str) -> None:
        self.steps.append((step, time.time()))


def rotate(lab: Lab, say: Say = lambda _: None, timeout: float = 60.0) -> Rotation:
    """Rotate every generated secret of `lab`: online when any of its containers runs, else files only."""
    stack = lab.stack
    current_path, pending_path, previous_path = stack / "secrets.env", stack / PENDING, stack / PREVIOUS
    if not current_path.exists():
        raise LabError(f"{current_path} is missing: nothing to rotate (`galera-lab generate` or `up` creates it)")
    pending = read_secrets_file(pending_path)
    resumed = bool(pending)
    if resumed:
        previous = read_secrets_file(previous_path)
        for path, values in ((pending_path, pending), (previous_path, previous)):
            check_secrets(path, values)
            if any(n not in values for n in SECRET_NAMES):
                raise LabError(f"{path} is incomplete; restore it, or delete {PENDING} and {PREVIOUS} to rotate afresh")
        say(f"resuming the rotation interrupted earlier (values from {PREVIOUS} and {PENDING})")
        old, new = previous, pending
    else:
        old = lab.secrets
        new = next_secrets(old, lab.plan.app_kind)
        # written before anything changes: an interrupted rotation resumes with the same values
        write_secrets(previous_path, old)
        write_secrets(pending_path, new)
    running = _running_services(lab)
    result = Rotation(online=bool(running), secrets=sorted(SECRET_NAMES), resumed=resumed)
    if not running:
        say("lab not running: new secrets and files only (the next `up` sets the passwords in MariaDB "
            "from init.sql when it starts the cluster)")
        _commit(lab, new)
        result.mark("files")
    else:
        try:
            _rotate_online(lab, running, old, new, result, say, time.monotonic() + timeout)
        except pymysql.MySQLError as exc:
            raise LabError(f"rotation stopped: {_sql_error(exc)}; `galera-lab secrets rotate` resumes it "
                           f"(with the values in {pending_path})") from None
    pending_path.unlink()
    previous_path.unlink(missing_ok=True)
    return result


def _rotate_online(lab: Lab, running: set[str], old: Secrets, new: Secrets, result: Rotation, say: Say,
                   deadline: float) -> None:
    """The three phases of the module docstring, on the parts of the lab that run."""
    node = _ready_node(lab, running)
    nodes = [n for n in lab.spec.node_names if n in running]
    with _admin_session(lab, node, old, new) as conn:
        for account in ACCOUNTS:
            db.query(conn, both_passwords_sql(account, old[account.secret], new[account.secret]))
    _wait_nodes(lab, nodes, new["LAB_ADMIN_PASSWORD"], accepted=True, deadline=deadline)
    _set_sst_auth(lab, nodes, old, new)
    result.mark("both")
    say(f"MariaDB: {', '.join(a.user for a in ACCOUNTS)} accept the old and the new password "
        f"(ALTER USER on {node}, replicated to {', '.join(nodes)})")

    app = AppSwitch(lab, new) if "app" in running else None
    if app:
        app.stage()
    proxies = [p for p in lab.spec.proxy_names if p in running]
    proxies.sort(key=lab.probe.vip_holder_of)  # the VIP holder last: clients reach it, not the other
    lab.plan.tier.rotate_credentials(proxies, old, new, say)
    result.mark("proxies")
    # at once: a tier that checks clients' passwords itself (ProxySQL) wants the new ones from now
    # on, from the lab's own tools (which read secrets.env) and from the app
    write_secrets(lab.stack / "secrets.env", new)
    if app:
        app.swap(restart=lab.plan.tier.checks_client_passwords)
    result.mark("clients")
    lab.render()
    say("stack re-rendered with the new secrets (secrets.env, init.sql, proxy and app config)")
    if app:
        app.settle(say, deadline)
    result.mark("app")

    with _admin_session(lab, node, new) as conn:
        for account in ACCOUNTS:
            db.query(conn, new_password_sql(account, new[account.secret]))
    _wait_nodes(lab, nodes, old["LAB_ADMIN_PASSWORD"], accepted=False, deadline=deadline)
    result.mark("new-only")
    say("MariaDB: old passwords refused on every node")


def _running_services(lab: Lab) -> set[str]:
    """The lab's services whose container runs now."""
    services = [*lab.spec.node_names, *lab.spec.proxy_names,
                *("keepalived" + p.removeprefix("proxy") for p in lab.spec.proxy_names), "app"]
    return {s for s in services if lab.probe.container_state(s) == "running"}


def _ready_node(lab: Lab, running: set[str]) -> str:
    """The node to run ALTER USER on; every running node must be Synced in a Primary component.

    Why every one: a node that is joining or cut off would apply the change later, but it could
    not be told its new SST credential, and the waits below could not tell when it has the change.
    A stopped node is fine: it gets the change by IST/SST and reads the new sst.cnf when it starts."""
    nodes = [n for n in lab.spec.node_names if n in running]
    states = {n: lab.probe.node(n) for n in nodes}
    unready = [f"{n} ({s.state})" for n, s in states.items() if not s.ready]
    if not nodes or unready:
        why = f"{', '.join(unready)} not Synced in a Primary component" if unready else "no Galera node runs"
        raise LabError(f"lab '{lab.spec.project}' is running but {why}, so a password change could not reach "
                       "every node; rotate once `galera-lab status` shows the nodes ready (or after `galera-lab down`)")
    return nodes[0]


@contextmanager
def _admin_session(lab: Lab, node: str, *candidates: Secrets) -> Iterator[pymysql.connections.Connection]:
    """lab_admin on `node` with the first of the candidates' passwords MariaDB accepts (a resumed
    rotation may find either)."""
    host = str(lab.spec.node_address(node))
    last: pymysql.MySQLError | None = None
    for secrets in candidates:
        try:
            conn = db.connect(host, 3306, "lab_admin", secrets["LAB_ADMIN_PASSWORD"], timeout=10)
        except pymysql.MySQLError as exc:
            if exc.args and exc.args[0] == ACCESS_DENIED:
                last = exc
                continue
            raise LabError(f"can't reach {node} ({host}:3306) as lab_admin: {_sql_error(exc)}") from None
        try:
            yield conn
        finally:
            conn.close()
        return
    raise LabError(f"{node} refuses lab_admin with the old and with the new password "
                   f"({_sql_error(last)}); was the password changed by hand?")


def _wait_nodes(lab: Lab, nodes: list[str], password: str, accepted: bool, deadline: float) -> None:
    """Until every running node accepts (or refuses) lab_admin with `password`: the ALTERs applied there."""
    for node in nodes:
        host = str(lab.spec.node_address(node))
        while True:
            try:
                db.connect(host, 3306, "lab_admin", password, timeout=3).close()
                ok = accepted
            except pymysql.MySQLError as exc:
                ok = (not accepted) and bool(exc.args) and exc.args[0] == ACCESS_DENIED
            if ok:
                break
            if time.monotonic() > deadline:
                raise LabError(f"{node} did not {'accept the new' if accepted else 'refuse the old'} lab_admin password "
                               "in time; `galera-lab status` shows the node's state; rerun `galera-lab secrets rotate` "
                               "to resume")
            time.sleep(0.2)


def _set_sst_auth(lab: Lab, nodes: list[str], old: Secrets, new: Secrets) -> None:
    """The SST credential each running node hands mariabackup, while both passwords are valid.

    A running node read `wsrep_sst_auth` from sst.cnf when it started; it donates with that value,
    so it must learn the new one before the old password goes. (rsync SST uses no account.)"""
    if lab.spec.galera.sst_method != "mariabackup":
        return
    for node in nodes:
        with _admin_session(lab, node, new, old) as conn:
            db.query(conn, "SET GLOBAL wsrep_sst_auth = %s", (f"sst:{new['SST_PASSWORD']}",))


class AppSwitch:
    """The running app's move to its new config, in two steps so the visible one is a single exec.

    `stage` (before the proxies switch, so it costs nothing later) puts the new config beside each
    copy the container reads, through the engine's archive API, with the copy's owner and mode.
    `swap` renames them over the copies (a reader sees the old file or the new one, never a
    half-written one), in one `docker exec` whose command line holds only paths. Behind a proxy
    that checks client passwords itself (ProxySQL) the same exec restarts Apache gracefully:
    PHP's opcache forgets the old config at once, not up to opcache.revalidate_freq later, and
    requests in flight finish. Behind one that passes logins through (HAProxy) MariaDB accepts
    both passwords until the app has the new one, so no restart: a graceful restart empties the
    whole opcache, and Chamilo recompiling itself made pages take over 2 s on this machine."""

    SWAP_SCRIPT = 'while [ "$#" -gt 1 ]; do mv -f "$1" "$2" || exit 1; shift 2; done'
    RESTART = "; exec apache2ctl graceful"

    def __init__(self, lab: Lab, new: Secrets):
        self.lab = lab
        rel, self.copies = APP_CONFIGS[lab.plan.app_kind]
        self.text = rendered_files(lab.plan, new)[rel][0]
        self.container = lab.docker.containers.get(lab.spec.container("app"))
        self.staged: list[tuple[str, str]] = []  # (temporary file, copy it replaces)
        self.restarted = False

    def stage(self) -> None:
        for path in self.copies:
            self.staged.append((stage_in_container(self.container, path, self.text), path))

    def swap(self, restart: bool) -> None:
        """Rename the staged files over the copies; with `restart`, restart Apache gracefully too."""
        self.restarted = restart
        script = self.SWAP_SCRIPT + (self.RESTART if restart else "")
        code, out = self.container.exec_run(swap_command(script, self.staged))
        if code != 0:
            raise LabError(f"{self.container.name}: switching the app's config failed: "
                           f"{out.decode(errors='replace').strip()[-300:]}")

    def settle(self, say: Say, deadline: float) -> None:
        """Until every request can only be using the new config: after a graceful restart, the app
        answering and APP_SETTLE_S for the old children to finish; else APP_PICKUP_S for opcache
        to re-read the file, and APP_SETTLE_S for requests that started before."""
        if self.restarted:
            self.lab.wait(lambda: self.lab.probe.app().http_status == 200,
                          "the application answering after its graceful restart", deadline, say)
        else:
            time.sleep(APP_PICKUP_S)
        time.sleep(APP_SETTLE_S)
        how = "Apache restarted gracefully" if self.restarted else "picked up by PHP without a restart"
        say(f"app: {self.lab.plan.app_kind} config replaced in place ({', '.join(self.copies)}), {how}")


def swap_command(script: str, staged: list[tuple[str, str]]) -> list[str]:
    """`sh -c SCRIPT sh TEMP PATH TEMP PATH …`: the paths are arguments, never part of the script."""
    return ["sh", "-c", script, "sh", *(p for pair in staged for p in pair)]


def stage_in_container(container: Any, path: str, text: str) -> str:
    """Write `text` beside `path` in a running container, with `path`'s owner and mode; returns
    the temporary file's path (renamed over `path` by AppSwitch.swap)."""
    uid, gid, mode = owner_and_mode(container, path)
    folder, name = posixpath.split(path)
    temp = f".{name}.rotating"
    container.put_archive(folder, in_container_tar(temp, text, uid, gid, mode))
    return posixpath.join(folder, temp)


def owner_and_mode(container: Any, path: str) -> tuple[int, int, int]:
    """uid, gid and permission bits of a file in a container, from the engine's archive API (the
    tar header of the file); `stat` through `docker exec` came back empty now and then under load."""
    try:
        chunks, _ = container.get_archive(path)
    except docker.errors.NotFound:
        raise LabError(f"{container.name}: {path} is not there; was the container started by this lab?") from None
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
    if member is None or not member.isfile():
        raise LabError(f"{container.name}: {path} is not a file")
    return member.uid, member.gid, member.mode & 0o7777


def _commit(lab: Lab, new: Secrets) -> None:
    """secrets.env holds the new values, and the stack is rendered from them."""
    write_secrets(lab.stack / "secrets.env", new)
    lab.render()


def _sql_error(exc: BaseException | None) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        return f"{exc.args[0]}: {exc.args[1]}"
    return str(exc)
