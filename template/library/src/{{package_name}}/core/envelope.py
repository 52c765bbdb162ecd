"""`OnexEnvelopeV1`: the frozen envelope every event travels in.

Build envelopes as `OnexEnvelopeV1(payload=...)` (typed by the payload) or through a
subclass, rather than `OnexEnvelopeV1[SomeTypeVar](...)`: pydantic keeps a parametrized
class only while something references it, and builds it again, in milliseconds, after the
garbage collector took it. A parametrization used over and over is kept in a module
constant (`JsonEnvelope`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

PayloadT_co = TypeVar("PayloadT_co", bound=BaseModel, covariant=True)
NewPayloadT = TypeVar("NewPayloadT", bound=BaseModel)


class ModelJsonPayload(BaseModel):
    """A payload known only as JSON (read off the wire, or given to an intent): its fields kept as they came.

    The one model of the library that allows extra fields: they are the payload.
    Whoever handles it parses them into its own contract.
    """

    model_config = ConfigDict(frozen=True, extra="allow")


def _now() -> datetime:
    return datetime.now(UTC)


class OnexEnvelopeV1(BaseModel, Generic[PayloadT_co]):
    """An event: a typed payload plus the ids that tie a conversation together.

    `correlation_id` is shared by every event of one conversation;
    `causation_id` is the `envelope_id` of the event that caused this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope_id: UUID = Field(default_factory=uuid4, description="Unique id of this event.")
    correlation_id: UUID = Field(default_factory=uuid4, description="Id shared by one conversation.")
    causation_id: UUID | None = Field(default=None, description="Envelope id of the causing event.")
    event_type: str = Field(min_length=1, description="What happened, e.g. `user_auth.completed`.")
    timestamp: datetime = Field(default_factory=_now, description="When the event was created (UTC).")
    source_node: str = Field(min_length=1, description="The node that emitted the event.")
    # SerializeAsAny: an envelope typed with a base class still dumps the whole payload.
    payload: SerializeAsAny[PayloadT_co] = Field(description="The contract the event carries.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Free-form string tags.")

    @property
    def key(self) -> str:
        """The partition key: events of one conversation keep their order."""
        return str(self.correlation_id)


def derive_envelope(
    cause: OnexEnvelopeV1[BaseModel],
    *,
    event_type: str,
    source_node: str,
    payload: NewPayloadT,
    metadata: dict[str, str] | None = None,
) -> OnexEnvelopeV1[NewPayloadT]:
    """An event caused by `cause`: same correlation id, causation = cause's id."""
    return OnexEnvelopeV1(
        correlation_id=cause.correlation_id,
        causation_id=cause.envelope_id,
        event_type=event_type,
        source_node=source_node,
        payload=payload,
        metadata={**cause.metadata, **(metadata or {})},
    )


#: An envelope whose payload is known only as JSON (read off the wire, or given to an intent).
JsonEnvelope = OnexEnvelopeV1[ModelJsonPayload]
