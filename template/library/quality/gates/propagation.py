"""CV-001 Context Inheritance: every event of a run carries the request's correlation id and a causation chain.

Every request (each feature's examples) runs once, one after the other, on a
fresh container whose bus records each envelope with the run that published it
(`runtime.Session`): lifecycle events of the workflow orchestrator, events the
steps publish, and the completed or failed outcome. For each run:

- every envelope carries the request's `correlation_id`;
- every envelope's `causation_id` is the id of the envelope that caused it: the
  request's `envelope_id` or an envelope the run emitted before it. So every
  causation chain leads back to the request; an envelope built from scratch
  (no causation, or a new conversation) breaks it;
- the run ends in exactly one outcome event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from uuid import UUID

from ..model import Finding, gate
from ..project import Project
from ..runtime import Library, Request, RunRecord, Session, requests, running

__all__ = ["context_inheritance", "inheritance_problems"]


@gate("CV-001")
def context_inheritance(project: Project) -> Iterator[Finding]:
    """Correlation and causation ids propagate from each request to every event its run emits."""
    with running(project) as loaded:
        planned, unrunnable = requests(project, loaded)
        yield from unrunnable
        records = asyncio.run(_one_by_one(loaded, planned)) if planned else []
    for record in records:
        where = project.relative(project.src / "features" / record.request.feature)
        for problem in inheritance_problems(record):
            yield Finding(where, None, f"{record.request.label}: {problem}")


async def _one_by_one(loaded: Library, planned: Sequence[Request]) -> list[RunRecord]:
    async with Session(loaded) as session:
        return [await session.run(request) for request in planned]


def inheritance_problems(record: RunRecord) -> list[str]:
    """How the envelopes of `record` fail to inherit its request's ids, in emission order."""
    problems: list[str] = []
    if record.error:
        problems.append(f"the handler raised {record.error}")
    if len(record.outcomes) != 1:
        problems.append(f"the run ended in {len(record.outcomes)} outcome events, not one")
    known: set[UUID] = {record.envelope_id}
    for emitted in record.emitted:
        envelope = emitted.envelope
        event = f"{envelope.event_type} (on {emitted.topic}, from {envelope.source_node})"
        if envelope.correlation_id != record.correlation_id:
            problems.append(
                f"{event} has correlation id {envelope.correlation_id}, not the request's {record.correlation_id}: "
                "derive it from the event that caused it (`derive_envelope`, `state.envelope`)"
            )
        if envelope.causation_id is None:
            problems.append(f"{event} has no causation id: it must name the envelope that caused it")
        elif envelope.causation_id not in known:
            problems.append(
                f"{event} names causation id {envelope.causation_id}, which is neither the request "
                f"({record.envelope_id}) nor an event the run emitted before it"
            )
        known.add(envelope.envelope_id)
    return problems
