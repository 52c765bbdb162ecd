"""A throwaway PostgreSQL cluster: `initdb` and `pg_ctl` into a temporary folder, on a free port.

The binaries come from PATH or from Debian's `/usr/lib/postgresql/<version>/bin`; without them the
tests that need a server are skipped with the reason. PostgreSQL refuses to run as root, so under
root the cluster runs as the `postgres` system user (or `nobody`), which then owns the folder.
The cluster trusts local connections and listens on 127.0.0.1 and in a socket folder of its own;
it runs without fsync: it holds test data only.

Each test gets a fresh, empty schema of the session's test database, named by its URL
(`?search_path=test_7`, which asyncpg passes on as a server setting): as independent as a
database of its own, and created in a few milliseconds where `CREATE DATABASE` copies a
template (50 ms idle, 200 ms on a busy two-core machine, for each of hundreds of tests).

Fixtures: `postgres_server` (the session's cluster), `postgres_url` (its test database),
`postgres_test_url` (a fresh schema per test) and `private_postgres_server` (a cluster of the
test's own, for tests that stop and start it).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The superuser the cluster is created with (connections are trusted: no password).
USER = "onex"
#: The database of the session's cluster that holds the tests' schemas.
TEST_DATABASE = "onex_tests"
#: Where Debian installs the server binaries, one folder per major version.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
#: Settings appended to `postgresql.conf`: local only, and fast rather than durable.
_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def find_binaries() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `psql`: from PATH, else Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(DEBIAN_BINARIES.glob("*/bin"), key=_major_version, reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return folder
    return None


def _major_version(folder: Path) -> int:
    """The major version in `/usr/lib/postgresql/<version>/bin` (0 when the name is not a number)."""
    name = folder.parent.name
    return int(name) if name.isdigit() else 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class _Account:
    """The system account the server runs as when the tests run as root."""

    uid: int
    gid: int

    @classmethod
    def for_server(cls) -> _Account | None:
        """None unless we are root; then `postgres` if that user exists, else `nobody`."""
        if os.geteuid() != 0:
            return None
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid)
        pytest.fail("running as root, PostgreSQL needs an unprivileged account: create a `postgres` user")


class PostgresServer:
    """One cluster in its own temporary folder; `start`, `stop`, `create_database`, `create_schema`, `remove`."""

    def __init__(self, binaries: Path) -> None:
        """Create the cluster (`initdb`) in a new temporary folder; it is not started yet."""
        self.binaries = binaries
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="onex-postgres-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self._account = _Account.for_server()
        self._names = itertools.count(1)
        self.sockets.mkdir()
        if self._account is not None:
            for path in (self.root, self.sockets):
                os.chown(path, self._account.uid, self._account.gid)
        try:
            self._run(
                "initdb",
                f"--pgdata={self.data}",
                f"--username={USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_SETTINGS.format(port=self.port, sockets=self.sockets))

    def url(self, database: str = "postgres") -> str:
        """The connection URL of `database` (over TCP on 127.0.0.1)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run("pg_ctl", "start", f"--pgdata={self.data}", f"--log={self.log}", "--wait", "--timeout=60")

    def stop(self) -> None:
        """Stop the server at once (clients are disconnected) and wait until it is down."""
        self._run("pg_ctl", "stop", f"--pgdata={self.data}", "--mode=fast", "--wait", "--timeout=60")

    def create_database(self, name: str) -> str:
        """A new empty database called `name`; its URL."""
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def create_schema(self, database: str) -> str:
        """A new empty schema in `database`; the URL that makes it the connections' schema."""
        name = f"test_{next(self._names)}"
        self.sql(f"CREATE SCHEMA {name}", database=database)
        return f"{self.url(database)}?search_path={name}"

    def sql(self, statement: str, *, database: str = "postgres") -> None:
        """Run `statement` (SQL of ours, no input) with `psql` over the socket."""
        self._run(
            "psql",
            f"--host={self.sockets}",
            f"--port={self.port}",
            f"--username={USER}",
            f"--dbname={database}",
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--command={statement}",
        )

    def remove(self) -> None:
        """Stop the server if it runs, and delete its folder."""
        status = self._run("pg_ctl", "status", f"--pgdata={self.data}", check=False)
        if status.returncode == 0:
            self._run("pg_ctl", "stop", f"--pgdata={self.data}", "--mode=immediate", "--wait", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the binaries as the server's account; on failure, fail with its output and the log."""
        account = self._account
        result = subprocess.run(  # noqa: S603 - our own binaries, arguments we built
            [str(self.binaries / tool), *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )
        if check and result.returncode != 0:
            log = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
            pytest.fail(f"{tool} {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}\n{log}")
        return result


def _started_server() -> PostgresServer:
    """A started cluster, or a skip when PostgreSQL is not installed."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(
            "PostgreSQL is not installed: no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin "
            "(Debian: apt-get install postgresql)"
        )
    server = PostgresServer(binaries)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL cluster with its test database, started on first use and removed at the end."""
    server = _started_server()
    try:
        server.create_database(TEST_DATABASE)
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of the session cluster's test database (its `public` schema)."""
    return postgres_server.url(TEST_DATABASE)


@pytest.fixture
def postgres_test_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty schema of the test database: each test gets its own."""
    return postgres_server.create_schema(TEST_DATABASE)


@pytest.fixture
def private_postgres_server() -> Iterator[PostgresServer]:
    """A started cluster of the test's own, for tests that stop and restart the server."""
    server = _started_server()
    yield server
    server.remove()
