"""Each example feature as the library runs it, against the same steps as a raw LlamaIndex workflow.

Run with the library's interpreter and `PYTHONPATH=<library>/src`:
`python feature_runs.py --work DIR --feature NAME --iterations N --warmup W`.
Prints one JSON document: `{"feature", "ours": [seconds per run], "raw": [...]}`.

"Ours" is `FeatureRunner.run`, the whole in-process path: the request contract,
the Requested envelope, the workflow orchestrator (FSM, lifecycle events on the bus,
retry policy, monitoring), the generated workflow (typed state, hooks), the response
contract and the Completed event. "Raw" is a plain `workflows.Workflow` whose steps
call the same node methods of the same container (same SQLite file, same in-memory
bus, same hashing), passing values in its events. The two alternate run by run, the
order swapped every run, so both see the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from itertools import count
from pathlib import Path
from secrets import token_urlsafe
from typing import Any
from uuid import uuid4

from onex_demo.archetypes.compute.node_hashing_compute import (
    EnumDigestAlgorithm,
    EnumPasswordAlgorithm,
    NodeHashingCompute,
)
from onex_demo.archetypes.compute.node_validation_compute import (
    EnumValidationRule,
    ModelValidationInput,
    ModelValidationRule,
    NodeValidationCompute,
)
from onex_demo.archetypes.effects.node_database_effect import NodeDatabaseEffect
from onex_demo.archetypes.effects.node_event_bus_effect import NodeEventBusEffect
from onex_demo.archetypes.effects.node_file_effect import NodeFileEffect
from onex_demo.archetypes.effects.node_logger_effect import EnumLogLevel, ModelLoggerInput, NodeLoggerEffect
from onex_demo.archetypes.reducers.node_metrics_reducer import (
    ModelMetricsInput,
    ModelMetricsItem,
    NodeMetricsReducer,
    metrics_state_from_rows,
    metrics_state_query,
)
from onex_demo.archetypes.reducers.node_session_reducer import EnumSessionAction, ModelSessionInput, NodeSessionReducer
from onex_demo.core.container import OnexContainer
from onex_demo.core.envelope import OnexEnvelopeV1
from onex_demo.core.errors import EnumCoreErrorCode, OnexError
from onex_demo.core.settings import ModelOnexSettings
from onex_demo.features import discover_features
from onex_demo.features.metadata_stamping.contracts import ModelMetadataStamped
from onex_demo.features.register_user.contracts import ModelRegisterUserRequest, ModelUserRegistered
from onex_demo.features.runtime import FeatureRunner, ModelFeatureFailure, utc_now
from onex_demo.features.user_auth.contracts import ModelUserAuthRequest
from pydantic import BaseModel, JsonValue, SecretStr
from workflows import Workflow, step
from workflows.events import Event, StartEvent, StopEvent

#: The password of every user the benchmark registers.
PASSWORD = "correct-horse-battery"  # noqa: S105 - a throwaway user of the benchmark
#: The file the stamping runs read (under the file root), and its size.
STAMPED_FILE = "bench/stamped.txt"
STAMPED_BYTES = 4096
#: The user that user_auth runs log in as (registered before the runs).
AUTH_USER = "bench_auth_user"

Run = Callable[[], Awaitable[None]]


def settings(work: Path) -> ModelOnexSettings:
    """The embedded backends in `work`; argon2 at its lowest cost, so that the hash does not hide the layer."""
    return ModelOnexSettings(
        _env_file=None,
        database_url=f"sqlite:///{work / 'runtime.sqlite3'}",
        bus_url="memory://",
        file_root=work / "files",
        log_file=work / "logger-node.log",
        password_argon2_time_cost=1,
        password_argon2_memory_kib=1024,
        password_argon2_parallelism=1,
    )


class NodeSet:
    """The container's nodes a raw workflow calls, started once (a hand-written workflow keeps its clients)."""

    def __init__(self, container: OnexContainer) -> None:
        """Take the nodes from `container`; `start` starts them."""
        self.container = container
        self.validation = container.node(NodeValidationCompute)
        self.hashing = container.node(NodeHashingCompute)
        self.database = container.node(NodeDatabaseEffect)
        self.logger = container.node(NodeLoggerEffect)
        self.event_bus = container.node(NodeEventBusEffect)
        self.file = container.node(NodeFileEffect)
        self.sessions = container.node(NodeSessionReducer)
        self.metrics = container.node(NodeMetricsReducer)

    async def start(self) -> None:
        """Start every node through the container (which shuts them down)."""
        for node in (
            self.validation,
            self.hashing,
            self.database,
            self.logger,
            self.event_bus,
            self.file,
            self.sessions,
            self.metrics,
        ):
            await self.container.start_node(type(node))


def announcement(correlation: str, event_type: str, payload: BaseModel) -> OnexEnvelopeV1[BaseModel]:
    """The event a step publishes (the feature's own event, which the raw workflow publishes too)."""
    return OnexEnvelopeV1[BaseModel](
        correlation_id=correlation, event_type=event_type, source_node="workflow", payload=payload
    )


# register_user: validate_input -> hash_password -> store_user -> log_registration -> announce.


class RegisterStart(StartEvent):
    """The request as JSON."""

    request: dict[str, JsonValue]


class RegisterValue(Event):
    """The request, and the hash once there is one."""

    request: dict[str, JsonValue]
    password_hash: str = ""


class RegisterHashed(RegisterValue):
    """After hash_password."""


class RegisterStored(RegisterValue):
    """After store_user."""


class RegisterLogged(RegisterValue):
    """After log_registration."""


class RawRegisterUser(Workflow):
    """register_user's steps, calling the same nodes."""

    def __init__(self, nodes: NodeSet) -> None:
        """Run on `nodes`."""
        super().__init__(timeout=30)
        self.nodes = nodes

    @step
    async def validate_input(self, ev: RegisterStart) -> RegisterValue:
        """The request contract plus the email rule."""
        checked = await self.nodes.validation.validate(
            ModelValidationInput(
                payload=ev.request,
                contract=ModelRegisterUserRequest,
                rules=(
                    ModelValidationRule(
                        field="email",
                        rule=EnumValidationRule.PATTERN,
                        value="^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
                        message="the email address needs a domain such as example.com",
                    ),
                ),
            )
        )
        if not checked.valid:
            raise OnexError("invalid request", code=EnumCoreErrorCode.VALIDATION_ERROR)
        return RegisterValue(request=ev.request)

    @step
    async def hash_password(self, ev: RegisterValue) -> RegisterHashed:
        """argon2."""
        password = SecretStr(str(ev.request["password"]))
        hashed = await self.nodes.hashing.hash_password(password, EnumPasswordAlgorithm.ARGON2)
        return RegisterHashed(request=ev.request, password_hash=hashed)

    @step
    async def store_user(self, ev: RegisterHashed) -> RegisterStored:
        """Insert the user."""
        request = ev.request
        await self.nodes.database.insert_record(
            "users",
            str(request["username"]),
            {
                "username": request["username"],
                "email": request["email"],
                "display_name": request.get("display_name"),
                "password_hash": ev.password_hash,
            },
        )
        return RegisterStored(request=request, password_hash=ev.password_hash)

    @step
    async def log_registration(self, ev: RegisterStored) -> RegisterLogged:
        """Log it."""
        await self.nodes.logger.process(
            ModelLoggerInput(
                level=EnumLogLevel.INFO, event="user.registered", fields={"username": ev.request["username"]}
            )
        )
        return RegisterLogged(request=ev.request, password_hash=ev.password_hash)

    @step
    async def announce(self, ev: RegisterLogged) -> StopEvent:
        """Publish UserRegistered; the response."""
        request = ev.request
        payload = ModelUserRegistered.model_validate({"username": request["username"], "email": request["email"]})
        await self.nodes.event_bus.publish(
            "onex.evt.onex_demo.user-registered.v1",
            announcement(str(uuid4()), "register_user.user-registered", payload),
        )
        response = {key: request[key] for key in ("username", "email", "display_name") if key in request}
        return StopEvent(result=response)


# user_auth: validate_input -> fetch_user -> verify_password -> open_session.


class AuthStart(StartEvent):
    """The request as JSON."""

    request: dict[str, JsonValue]


class AuthValidated(Event):
    """After validate_input."""

    request: dict[str, JsonValue]


class AuthFetched(Event):
    """After fetch_user."""

    request: dict[str, JsonValue]
    user: dict[str, JsonValue]


class AuthVerified(AuthFetched):
    """After verify_password."""


class RawUserAuth(Workflow):
    """user_auth's steps, calling the same nodes."""

    def __init__(self, nodes: NodeSet) -> None:
        """Run on `nodes`."""
        super().__init__(timeout=30)
        self.nodes = nodes

    @step
    async def validate_input(self, ev: AuthStart) -> AuthValidated:
        """The request contract."""
        checked = await self.nodes.validation.validate(
            ModelValidationInput(payload=ev.request, contract=ModelUserAuthRequest)
        )
        if not checked.valid:
            raise OnexError("invalid request", code=EnumCoreErrorCode.VALIDATION_ERROR)
        return AuthValidated(request=ev.request)

    @step
    async def fetch_user(self, ev: AuthValidated) -> AuthFetched:
        """Read the user."""
        found = await self.nodes.database.get_record("users", str(ev.request["username"]))
        if found is None:
            raise OnexError("no such user", code=EnumCoreErrorCode.PERMISSION_DENIED)
        return AuthFetched(request=ev.request, user=found)

    @step
    async def verify_password(self, ev: AuthFetched) -> AuthVerified:
        """Check the password against the stored hash."""
        password = SecretStr(str(ev.request["password"]))
        if not await self.nodes.hashing.verify_password(password, str(ev.user["password_hash"])):
            raise OnexError("the password does not match", code=EnumCoreErrorCode.PERMISSION_DENIED)
        return AuthVerified(request=ev.request, user=ev.user)

    @step
    async def open_session(self, ev: AuthVerified) -> StopEvent:
        """Open a session through the session reducer and persist its intents."""
        opened = await self.nodes.sessions.process(
            ModelSessionInput(
                action=EnumSessionAction.OPEN,
                now=utc_now(),
                session_id=token_urlsafe(32),
                subject=str(ev.request["username"]),
                data={"email": ev.user.get("email")},
            )
        )
        await self.nodes.container.execute_intents(opened.intents)
        session = opened.session
        if session is None:
            raise OnexError("no session", code=EnumCoreErrorCode.OPERATION_FAILED)
        return StopEvent(
            result={
                "session_id": session.session_id,
                "username": ev.request["username"],
                "expires_at": session.expires_at.isoformat(),
            }
        )


# metadata_stamping: read_file -> hash_content -> store_stamp -> aggregate -> announce.


class StampStart(StartEvent):
    """The request as JSON."""

    request: dict[str, JsonValue]


class StampRead(Event):
    """After read_file."""

    request: dict[str, JsonValue]
    content: str
    size: int


class StampHashed(StampRead):
    """After hash_content."""

    digest: str


class StampStored(StampHashed):
    """After store_stamp."""


class StampCounted(StampHashed):
    """After aggregate."""

    count: int
    total_bytes: int


class RawMetadataStamping(Workflow):
    """metadata_stamping's steps, calling the same nodes."""

    def __init__(self, nodes: NodeSet) -> None:
        """Run on `nodes`."""
        super().__init__(timeout=30)
        self.nodes = nodes

    @step
    async def read_file(self, ev: StampStart) -> StampRead:
        """Read the file."""
        content = await self.nodes.file.read(str(ev.request["path"]))
        return StampRead(request=ev.request, content=content, size=len(content.encode()))

    @step
    async def hash_content(self, ev: StampRead) -> StampHashed:
        """BLAKE3."""
        digest = await self.nodes.hashing.digest(ev.content, EnumDigestAlgorithm.BLAKE3)
        return StampHashed(request=ev.request, content=ev.content, size=ev.size, digest=digest)

    @step
    async def store_stamp(self, ev: StampHashed) -> StampStored:
        """Upsert the stamp."""
        request = ev.request
        await self.nodes.database.upsert_record(
            "stamps",
            str(request["path"]),
            {"path": request["path"], "namespace": request["namespace"], "digest": ev.digest, "size_bytes": ev.size},
        )
        return StampStored(**ev.model_dump())

    @step
    async def aggregate(self, ev: StampStored) -> StampCounted:
        """Fold the stamp into its namespace's totals and persist them."""
        namespace = str(ev.request["namespace"])
        query = metrics_state_query([namespace])
        current = metrics_state_from_rows(await self.nodes.database.fetch_all(query.sql, query.parameters))
        folded = await self.nodes.metrics.process(
            ModelMetricsInput(
                state=current, items=(ModelMetricsItem(namespace=namespace, size_bytes=ev.size),), now=utc_now()
            )
        )
        await self.nodes.container.execute_intents(folded.intents)
        totals = folded.state.namespaces[namespace]
        return StampCounted(**ev.model_dump(), count=totals.count, total_bytes=totals.total_bytes)

    @step
    async def announce(self, ev: StampCounted) -> StopEvent:
        """Publish MetadataStamped; the response."""
        request = ev.request
        payload = ModelMetadataStamped.model_validate(
            {"path": request["path"], "namespace": request["namespace"], "digest": ev.digest}
        )
        await self.nodes.event_bus.publish(
            "onex.evt.onex_demo.metadata-stamped.v1",
            announcement(str(uuid4()), "metadata_stamping.metadata-stamped", payload),
        )
        return StopEvent(
            result={
                "path": request["path"],
                "namespace": request["namespace"],
                "digest": ev.digest,
                "size_bytes": ev.size,
                "namespace_count": ev.count,
                "namespace_bytes": ev.total_bytes,
            }
        )


RAW_WORKFLOWS: dict[str, type[RawRegisterUser | RawUserAuth | RawMetadataStamping]] = {
    "register_user": RawRegisterUser,
    "user_auth": RawUserAuth,
    "metadata_stamping": RawMetadataStamping,
}


def requests(feature: str, side: str) -> Callable[[], dict[str, JsonValue]]:
    """Requests of `feature` that succeed, each new where the feature needs it (a new username)."""
    numbers = count()
    if feature == "register_user":
        return lambda: {
            "username": f"{side}_{next(numbers)}_{uuid4().hex[:8]}",
            "email": "bench@example.com",
            "password": PASSWORD,
            "display_name": "Bench",
        }
    if feature == "user_auth":
        return lambda: {"username": AUTH_USER, "password": PASSWORD}
    if feature == "metadata_stamping":
        return lambda: {"path": STAMPED_FILE, "namespace": f"bench_{side}"}
    raise SystemExit(f"no raw workflow for feature {feature!r}; features: {', '.join(RAW_WORKFLOWS)}")


async def prepare(feature: str, runner: FeatureRunner, root: Path) -> None:
    """What the feature's runs need: a registered user, a file to stamp."""
    if feature == "user_auth":
        outcome = await runner.run(
            "register_user", {"username": AUTH_USER, "email": "auth@example.com", "password": PASSWORD}
        )
        check(outcome.payload)
    if feature == "metadata_stamping":
        path = root / STAMPED_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("onex " * (STAMPED_BYTES // 5) + "x" * (STAMPED_BYTES % 5), encoding="utf-8")


def check(payload: object) -> None:
    """Stop the benchmark when a run failed: a figure of failing runs would mean nothing."""
    if isinstance(payload, ModelFeatureFailure):
        raise SystemExit(f"a run failed: {payload.error.code}: {payload.error.message}")


async def measure(
    feature: str, work: Path, iterations: int, warmup: int, profiler: cProfile.Profile | None = None
) -> dict[str, Any]:
    """Seconds per run of ours and raw, alternating; `profiler` profiles our measured runs."""
    async with OnexContainer(settings(work)) as container:
        runner = FeatureRunner(container, discover_features())
        await runner.start()
        nodes = NodeSet(container)
        await nodes.start()
        await prepare(feature, runner, container.settings.file_root)
        raw_workflow = RAW_WORKFLOWS[feature](nodes)
        ours_requests, raw_requests = requests(feature, "ours"), requests(feature, "raw")

        async def ours() -> None:
            outcome = await runner.run(feature, ours_requests())
            check(outcome.payload)

        async def raw() -> None:
            await raw_workflow.run(request=raw_requests())

        samples: dict[str, list[float]] = {"ours": [], "raw": []}
        sides: list[tuple[str, Run]] = [("ours", ours), ("raw", raw)]
        for index in range(warmup + iterations):
            order = sides if index % 2 == 0 else sides[::-1]
            for name, run in order:
                profiling = profiler if name == "ours" and index >= warmup else None
                if profiling is not None:
                    profiling.enable()
                started = time.perf_counter()
                await run()
                elapsed = time.perf_counter() - started
                if profiling is not None:
                    profiling.disable()
                if index >= warmup:
                    samples[name].append(elapsed)
        return {"feature": feature, **samples}


def main() -> None:
    """Parse the arguments, measure, print the JSON document."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (database, files, logs)")
    parser.add_argument("--feature", required=True, choices=sorted(RAW_WORKFLOWS))
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", type=Path, help="write a cProfile of our measured runs here (pstats)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    (args.work / "files").mkdir(parents=True, exist_ok=True)
    profiler = cProfile.Profile() if args.profile else None
    result = asyncio.run(measure(args.feature, args.work, args.iterations, args.warmup, profiler))
    if profiler is not None:
        profiler.dump_stats(args.profile)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
