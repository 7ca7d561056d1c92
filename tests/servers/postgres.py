"""A throwaway PostgreSQL cluster for tests, from Debian's binaries (``apt-get install
postgresql``, done by ``scripts/setup.sh --test``).

    with start_postgres(tmp_path) as url:          # postgresql+psycopg://postgres@127.0.0.1:P/test
        engine = sqlalchemy.create_engine(url)
        ...
        restart_postgres(url)                       # same data, same port
        kill_postgres(url); start_again(url)        # a crash (SIGKILL), then crash recovery

or, to hold the cluster object itself, ``with postgres_server(tmp_path) as pg: pg.url,
pg.stop(), pg.start(), pg.restart(), pg.crash(), pg.kill()``.

The cluster is ``initdb -A trust`` (no password) and listens on 127.0.0.1 only, on a free
port, with its Unix socket in its own folder. As root, every PostgreSQL command runs as the
``postgres`` user (``runuser``), so the data folder is chowned to it and has to be reachable
by it: pytest's ``/tmp/pytest-of-root`` is 0700, so when the given folder is not traversable
by ``postgres`` the cluster goes to a folder of its own under the system temp dir (0755),
removed on exit. Whatever happens, the server is stopped on exit (and at interpreter exit
as a last resort): no postmaster is left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"
# A Unix socket path must fit in sockaddr_un.sun_path (108 bytes, with the NUL).
_MAX_SOCKET_PATH = 100


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bin_dir(version: str | None = None) -> Path:
    """The folder of ``initdb``/``pg_ctl``: the given major version, else the newest installed."""
    candidates = [PG_ROOT / version / "bin"] if version else sorted(
        PG_ROOT.glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    for bin_dir in reversed(candidates):
        if (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file():
            return bin_dir
    raise RuntimeError(
        f"PostgreSQL server binaries not found under {PG_ROOT}/{version or '*'}/bin "
        "(initdb, pg_ctl): install Debian's postgresql with `scripts/setup.sh --test` "
        "(or `apt-get install postgresql`)"
    )


def _as_root() -> bool:
    return os.geteuid() == 0


def _traversable_by(path: Path, user: str) -> bool:
    """Whether ``user`` can reach ``path`` (x on every ancestor), from the mode bits."""
    if not _as_root():
        return True  # not root: the cluster runs as ourselves
    pw = pwd.getpwnam(user)
    groups = {pw.pw_gid, *(g for g in os.getgrouplist(user, pw.pw_gid))}
    for folder in [path, *path.parents]:
        st = folder.stat()
        if st.st_uid == pw.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


class PostgresServer:
    """One cluster (``initdb`` once) in ``base/data``; stop/start keep its data and port."""

    def __init__(self, base: Path, port: int | None = None, dbname: str = "test",
                 version: str | None = None) -> None:
        self.bin = pg_bin_dir(version)
        self.base = base
        self.data = base / "data"
        self.log = base / "postgres.log"
        self.port = port or free_port()
        self.dbname = dbname
        self._initialised = False

    # -- addresses -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the test database (psycopg 3 driver)."""
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def dsn(self) -> str:
        """The same database as a libpq URI (``psycopg.connect(dsn)``, ``psql dsn``)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{self.dbname}"

    # -- commands ------------------------------------------------------------------------
    def _run(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if _as_root():
            cmd = ["runuser", "-u", PG_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, cwd=self.base)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                f"{self.log_tail()}"
            )
        return proc

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return f"\n--- {self.log} (last {len(text)} lines) ---\n" + "\n".join(text)

    def initdb(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        if _as_root():
            pw = pwd.getpwnam(PG_USER)
            for path in (self.base, self.data):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER,
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        self._initialised = True

    def _options(self) -> str:
        socket_dir = str(self.base) if len(str(self.base)) < _MAX_SOCKET_PATH else "''"
        # fsync off: a test cluster need not survive a power cut; crash recovery after
        # a killed postmaster still works (the WAL is written, only not flushed to disk).
        return f"-h 127.0.0.1 -p {self.port} -k {socket_dir} -c fsync=off -c full_page_writes=off"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while the cluster runs (from ``postmaster.pid``)."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        # /proc rather than kill(pid, 0): a killed postmaster may linger as a zombie when
        # nothing reaps orphans (PID 1 of a container).
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def start(self, timeout: float = 60.0) -> PostgresServer:
        """Start the cluster (``initdb`` the first time) and wait until it accepts connections."""
        if not self._initialised:
            self.initdb()
        self._drop_stale_pid_file()
        self._run("pg_ctl", "start", "-D", str(self.data), "-o", self._options(),
                  "-l", str(self.log), "-w", "-t", str(int(timeout)), timeout=timeout + 10)
        _live.add(self)
        return self

    def _drop_stale_pid_file(self) -> None:
        """After a kill, the dead postmaster may linger as a zombie until something reaps
        it; PostgreSQL's own check (``kill(pid, 0)``) then takes it for a live server and
        refuses to start. A pid file whose process is gone or a zombie is removed."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists() or self.pid is not None:
            return
        pid_file.unlink(missing_ok=True)
        for lock in self.base.glob(".s.PGSQL.*.lock"):  # the socket's lock, same pid
            with contextlib.suppress(OSError, ValueError):
                if not _alive(int(lock.read_text().split("\n", 1)[0])):
                    lock.unlink()

    def create_database(self, name: str | None = None) -> None:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
                  name or self.dbname)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """``pg_ctl stop -m fast`` (or ``immediate``: a crash, recovered at next start)."""
        if self.pid is None:
            _live.discard(self)
            return
        proc = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w",
                         "-t", str(int(timeout)), check=False, timeout=timeout + 10)
        if proc.returncode != 0 and self.pid is not None:
            self.kill()
        _live.discard(self)

    def crash(self) -> None:
        """``pg_ctl stop -m immediate``: no checkpoint, the next start replays the WAL."""
        self.stop(mode="immediate")

    def kill(self) -> None:
        """SIGKILL the postmaster and its children (by pid): PostgreSQL killed mid-session.

        The children are killed too so that the next ``start`` does not find the old
        shared memory still attached by an orphaned backend."""
        pid = self.pid
        if pid is None:
            return
        children = _children(pid)
        for victim in [pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        # Wait until they are reaped, not just dead: a zombie postmaster still passes
        # PostgreSQL's kill(pid, 0) check and blocks the next start (PID 1 of this kind of
        # machine reaps orphans every second or two).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in [pid, *children]):
            time.sleep(0.05)
        _live.discard(self)

    def restart(self) -> PostgresServer:
        """Stop (fast) and start again: same data folder, same port, same URL."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (PostgreSQL's backends and auxiliary processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


# Clusters still running: stopped at interpreter exit if a test forgot to (or crashed).
_live: set[PostgresServer] = set()
_by_url: dict[str, PostgresServer] = {}


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop(mode="immediate", timeout=20)


def _make_base(tmpdir: str | os.PathLike | None) -> tuple[Path, bool]:
    """A fresh folder for one cluster, reachable by ``postgres``; (folder, ours to remove)."""
    if tmpdir is not None:
        parent = Path(tmpdir).resolve()
        parent.mkdir(parents=True, exist_ok=True)
        if _traversable_by(parent, PG_USER) and len(str(parent)) < _MAX_SOCKET_PATH - 20:
            base = Path(tempfile.mkdtemp(prefix="pg-", dir=parent))
            base.chmod(0o755)
            return base, False
    # pytest's /tmp/pytest-of-root/... is 0700 root: a folder of our own, 0755, under /tmp.
    base = Path(tempfile.mkdtemp(prefix="fiches-rag-pg-"))
    base.chmod(0o755)
    return base, True


@contextlib.contextmanager
def postgres_server(tmpdir: str | os.PathLike | None = None, dbname: str = "test",
                    version: str | None = None, timeout: float = 60.0) -> Iterator[PostgresServer]:
    """A running cluster with database ``dbname``; stopped (and its folder removed if it
    was made outside ``tmpdir``) on exit."""
    pg_bin_dir(version)  # the clear error before any folder is made
    base, ours = _make_base(tmpdir)
    server = PostgresServer(base, dbname=dbname, version=version)
    try:
        for attempt in range(3):  # the free port may be taken between free_port() and start
            try:
                server.start(timeout=timeout)
                break
            except RuntimeError:
                if attempt == 2 or "already in use" not in server.log_tail():
                    raise
                server.port = free_port()
        server.create_database()
        _by_url[server.url] = server
        yield server
    finally:
        _by_url.pop(server.url, None)
        server.stop()
        if ours:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def start_postgres(tmpdir: str | os.PathLike | None = None, dbname: str = "test",
                   version: str | None = None, timeout: float = 60.0) -> Iterator[str]:
    """A running cluster; yields its SQLAlchemy URL
    ``postgresql+psycopg://postgres@127.0.0.1:PORT/test``; stops it on exit."""
    with postgres_server(tmpdir, dbname=dbname, version=version, timeout=timeout) as server:
        yield server.url


def server_for(url: str) -> PostgresServer:
    """The cluster behind a URL yielded by :func:`start_postgres`."""
    try:
        return _by_url[url]
    except KeyError:
        raise KeyError(f"no cluster started by start_postgres() has the URL {url}") from None


def stop_postgres(url: str, mode: str = "fast") -> None:
    """Stop the cluster (``fast``: clean shutdown; ``immediate``: a crash)."""
    server_for(url).stop(mode=mode)


def kill_postgres(url: str) -> None:
    """SIGKILL the cluster's processes: PostgreSQL dies mid-session."""
    server_for(url).kill()


def start_again(url: str) -> None:
    """Start a stopped (or killed) cluster again, same data and port."""
    server_for(url).start()


def restart_postgres(url: str) -> None:
    """Stop (fast) then start the cluster again, same data and port."""
    server_for(url).restart()
