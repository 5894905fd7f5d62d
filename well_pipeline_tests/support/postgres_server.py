"""A real, throwaway PostgreSQL server on loopback for the tests of the PostgreSQL store.

Why Debian's server and not a mock or an embedded stand-in: the store's guarantees (row locks, `ON CONFLICT`,
advisory locks, transactional DDL) are the server's; only the real one can show them. Debian's `postgresql`
package is found under `/usr/lib/postgresql/<major>/bin`, or installed with apt (`support/debian_packages.py`,
run by `scripts/dev.py test` before pytest together with Chromium).

The server: `initdb` of a fresh cluster in a temporary folder (no fsync: a test cluster never outlives its run),
listening on 127.0.0.1 at a free port with its unix socket in that folder, trust authentication for loopback
only, one database `well`. PostgreSQL refuses to run as root, so as root `initdb` and `pg_ctl` run as the
`postgres` system user (`runuser`), the folder chowned to it; as another user they run directly.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from well_pipeline_tests.support.debian_packages import apt_install

APT_PACKAGE = "postgresql"
VERSIONS_DIR = Path("/usr/lib/postgresql")  # Debian: <major>/bin/initdb
DATABASE = "well"
SUPERUSER = "postgres"  # the cluster's superuser name (initdb -U), whoever runs the server
START_TIMEOUT_S = 60

# Settings for a test cluster: durability off (a crash loses a throwaway cluster, nothing else), loopback only.
_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
"""


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be had here (not installed and apt-get cannot install it); the message says why."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but the test cluster did not start (a failure to report, never a reason to skip)."""


def find_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL's bin folder holding `initdb` and `pg_ctl`, None when there is none."""
    found = [p for p in VERSIONS_DIR.glob("*/bin")
             if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, default=None)


def installed() -> bool:
    return find_bin_dir() is not None


def ensure_postgres() -> Path:
    """The bin folder of Debian's PostgreSQL, installed with apt when missing; `PostgresUnavailable` if it cannot."""
    found = find_bin_dir()
    if found is not None:
        return found
    outcome = apt_install([APT_PACKAGE])
    found = find_bin_dir()
    if found is None:
        raise PostgresUnavailable(f"PostgreSQL is not installed ({VERSIONS_DIR}/<major>/bin/initdb) and could not be: "
                                  f"{outcome.detail}; install Debian's `{APT_PACKAGE}` package")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class PostgresServer:
    """One running test cluster; `dsn` reaches its `well` database over loopback TCP. `stop()` removes it all."""

    bin_dir: Path
    root: Path
    port: int = 0
    _run_as: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def dsn(self, database: str = DATABASE) -> str:
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database} connect_timeout=10"

    def _run(self, *args: str, timeout: float = START_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run([*self._run_as, *args], cwd=self.root, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, "LC_ALL": "C.UTF-8"})

    def _check(self, result: subprocess.CompletedProcess, what: str) -> None:
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise PostgresStartError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> PostgresServer:
        initdb = self._run(str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                           "--locale=C.UTF-8", "--no-sync", "--auth-local=trust", "--auth-host=trust")
        self._check(initdb, "initdb")
        for _ in range(5):  # a free port can be taken between the probe and the server's bind: try another
            self.port = _free_port()
            with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(_CONF.format(port=self.port, socket_dir=self.root))
            started = self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                                "-w", "-t", str(START_TIMEOUT_S), "start")
            if started.returncode == 0:
                break
            if "could not bind" not in self.log_file.read_text(errors="replace"):
                self._check(started, "pg_ctl start")
        else:
            self._check(started, "pg_ctl start")
        atexit.register(self.stop)
        created = self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", SUPERUSER, DATABASE)
        self._check(created, "createdb")
        return self

    def stop(self) -> None:
        """Stop the server (immediately: nothing in it is worth a checkpoint) and delete the cluster."""
        if self.data_dir.exists() and (self.data_dir / "postmaster.pid").exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def new_schema() -> str:
    """A schema name no other test uses (the store creates the schema on first connection)."""
    return f"t_{uuid.uuid4().hex[:16]}"


def start_server() -> PostgresServer:
    """A fresh cluster, started; as root it runs as the `postgres` system user."""
    bin_dir = ensure_postgres()
    root = Path(tempfile.mkdtemp(prefix="well-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresStartError("running as root and there is no `postgres` system user to run the server as "
                                      "(Debian's package creates it)") from None
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bin_dir, root, _run_as=run_as)
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise


def main() -> int:
    """Print where Debian's PostgreSQL is, or why there is none; exit 0 either way (the tests report it)."""
    try:
        detail = f"found {ensure_postgres()}"
    except PostgresUnavailable as exc:
        detail = str(exc)
    print(f"[well] postgresql for the storage tests: {detail}", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--try"]:  # start and stop one server, timing it (a developer's check)
        began = time.monotonic()
        server = start_server()
        print(f"started {server.dsn()} in {time.monotonic() - began:.2f} s", flush=True)
        server.stop()
        sys.exit(0)
    sys.exit(main())
