"""The event bus effect: publishes event envelopes on the container's bus.

Topics must match `^[a-zA-Z0-9._-]+$`; the partition key defaults to the
envelope's correlation id, so the events of one conversation keep their order.
The envelope object is published as given (typed payload intact). The node
carries out `event_bus.publish` intents, whose payload holds the envelope as a
JSON object: its payload then travels as plain JSON fields.
"""

from __future__ import annotations

import re
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializeAsAny,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from ...core.envelope import JsonEnvelope, OnexEnvelopeV1
from ...core.errors import EnumCoreErrorCode, OnexError, invalid_input
from ...core.event_bus import Envelope
from ...core.intents import ModelIntent
from ...core.metrics import monitor_performance
from ...core.nodes import NodeEffect

#: What a topic name may contain (Kafka's rule).
TOPIC_PATTERN = r"^[a-zA-Z0-9._-]+$"
#: Kafka's longest topic name.
TOPIC_MAX_LENGTH = 249

_TOPIC = re.compile(TOPIC_PATTERN)


class ModelEventBusInput(BaseModel):
    """One envelope to publish."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(
        pattern=TOPIC_PATTERN, max_length=TOPIC_MAX_LENGTH, description="Topic, e.g. `onex.evt.pkg.feature-done.v1`."
    )
    envelope: SerializeAsAny[Envelope] = Field(description="The envelope; a JSON object is read as such.")
    key: str | None = Field(default=None, min_length=1, description="Partition key; default: the correlation id.")

    @field_validator("envelope", mode="wrap")
    @classmethod
    def _keep_envelope(cls, value: object, handler: ValidatorFunctionWrapHandler) -> Envelope:
        """Keep an envelope object as it is; read anything else as an envelope of JSON payload."""
        if isinstance(value, OnexEnvelopeV1):
            return value
        envelope: Envelope = JsonEnvelope.model_validate(value)
        return envelope


class ModelEventBusOutput(BaseModel):
    """Where an envelope was published."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str = Field(description="The topic it was published on.")
    envelope_id: UUID = Field(description="The published envelope's id.")
    key: str = Field(description="The partition key used.")


def check_topic(topic: str) -> None:
    """Refuse a topic name the bus would not accept.

    Raises:
        OnexError: VALIDATION_ERROR.
    """
    if len(topic) > TOPIC_MAX_LENGTH or not _TOPIC.fullmatch(topic):
        raise OnexError(
            f"invalid topic {topic!r}: use 1-{TOPIC_MAX_LENGTH} of [a-zA-Z0-9._-]",
            code=EnumCoreErrorCode.VALIDATION_ERROR,
            details={"topic": topic},
        )


class NodeEventBusEffect(NodeEffect[ModelEventBusInput, ModelEventBusOutput]):
    """Publishes event envelopes on the bus."""

    node_name = "event_bus"
    handled_intents = frozenset({"event_bus.publish"})

    async def check_connectivity(self) -> None:
        """The bus's own health check."""
        await self.container.event_bus.health_check()

    async def process(self, input_data: ModelEventBusInput) -> ModelEventBusOutput:
        """Publish `input_data.envelope` on `input_data.topic`."""
        return await self.publish(input_data.topic, input_data.envelope, key=input_data.key)

    @monitor_performance("event_bus.publish")
    async def publish(self, topic: str, envelope: Envelope, *, key: str | None = None) -> ModelEventBusOutput:
        """Publish `envelope`; `key` (default: its correlation id) keeps per-key order."""
        self.require_running()
        check_topic(topic)
        if key == "":
            raise OnexError("the partition key is empty", code=EnumCoreErrorCode.VALIDATION_ERROR)
        partition_key = key or envelope.key
        await self.run_effect(lambda: self._send(topic, envelope, partition_key))
        return ModelEventBusOutput(topic=topic, envelope_id=envelope.envelope_id, key=partition_key)

    async def execute_intent(self, intent: ModelIntent) -> JsonValue:
        """Carry out `event_bus.publish`: target = topic, payload = {envelope, key?}."""
        if intent.intent_type != "event_bus.publish":
            return await super().execute_intent(intent)
        try:
            data = ModelEventBusInput.model_validate(
                {"topic": intent.target, "envelope": intent.payload.get("envelope"), "key": intent.payload.get("key")}
            )
        except ValidationError as exc:
            raise invalid_input("invalid event_bus.publish intent", exc) from exc
        output = await self.process(data)
        return output.model_dump(mode="json")

    async def _send(self, topic: str, envelope: Envelope, key: str) -> None:
        """Hand the envelope to the bus; OS-level failures are transient."""
        try:
            await self.container.event_bus.publish(topic, envelope, key=key)
        except OSError as exc:
            code = (
                EnumCoreErrorCode.TIMEOUT if isinstance(exc, TimeoutError) else EnumCoreErrorCode.DEPENDENCY_UNAVAILABLE
            )
            raise OnexError(
                f"publishing on {topic!r} failed: {exc}", code=code, details={"topic": topic, "key": key}
            ) from exc
