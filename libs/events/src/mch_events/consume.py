"""The consuming side every service shares: decode a batch of Kafka records, dead-letter what is
unusable, process the rest in one transaction (idempotent by event id, one span per event in the
trace the event was produced in), and dead-letter what the service rejects.

No record can stop a consumer: one that cannot be decoded or validated, whatever the error, is
dead-lettered with its reason; a batch that fails as a whole is retried a few times, then split in
halves until the record at fault is found and dead-lettered (``processing_error``) and the rest are
applied. Only while the database does not answer is the batch left to be consumed again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from opentelemetry import trace
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from . import idempotency
from .contracts.results import EventResult, Problem, ReasonCode
from .deadletter import DeadLetters, KafkaRecord
from .envelope import CloudEvent, EventError, from_kafka, parse_data
from .telemetry import context_from

log = logging.getLogger(__name__)
tracer = trace.get_tracer("mch_events.consume")

ApplyFn = Callable[[Session, CloudEvent, BaseModel], EventResult]
"""Apply one validated event inside the batch transaction. Raise ``EventError`` to reject it;
anything staged in the session for a rejected event is rolled back."""

Positions = Mapping[tuple[str, int], int]
"""(topic, partition) → the offset after the last record of a transaction in that partition."""
PositionsFn = Callable[[Session, Positions], None]
"""Called first in each batch transaction with the positions of the records it applies, so a
service can keep, in the same transaction as its state, how far into the log that state goes."""


@runtime_checkable
class BatchApply(Protocol):
    """An ``ApplyFn`` for busy consumers. It sees the batch's new events before applying them one
    by one, so it can load what they refer to in a few queries instead of a few per event; and it
    rejects an event (raises ``EventError`` or answers ``rejected``) only before changing anything
    for it. Its batches therefore run without a savepoint per event, and the changes are written
    together; an error of any other kind rolls the batch back, and it runs again with a savepoint
    per event, so the one failing event is rejected and the others are kept."""

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult: ...

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None: ...


@dataclass
class BatchSummary:
    received: int = 0
    results: list[EventResult] = field(default_factory=list)
    rejected: list[tuple[KafkaRecord, list[Problem]]] = field(default_factory=list)
    """Every record sent to the dead letters, undecodable ones included, with why."""

    @property
    def dead_lettered(self) -> int:
        return len(self.rejected)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


class _Unguarded(Exception):
    """An unexpected error in a batch run without savepoints."""


def apply_events(
    engine: Engine,
    consumer: str,
    events: Sequence[tuple[CloudEvent, dict[str, str]]],
    apply: ApplyFn,
    *,
    service: str,
    first: Callable[[Session], None] | None = None,
) -> list[EventResult]:
    """Apply events in one transaction; each in a savepoint so one rejection spares the rest
    (a ``BatchApply`` needs none, see there). ``first`` runs before anything else in it.

    Events already processed by ``consumer`` (claims kept in ``service``'s table) are answered
    ``duplicate`` and not applied again.
    """
    if isinstance(apply, BatchApply):
        try:
            return _apply_batch(engine, consumer, service, events, apply, first, guarded=False)
        except _Unguarded as exc:
            log.warning("%s: %s; applying the batch again event by event", consumer, exc.__cause__)
    return _apply_batch(engine, consumer, service, events, apply, first, guarded=True)


def _apply_batch(
    engine: Engine,
    consumer: str,
    service: str,
    events: Sequence[tuple[CloudEvent, dict[str, str]]],
    apply: ApplyFn,
    first: Callable[[Session], None] | None,
    *,
    guarded: bool,
) -> list[EventResult]:
    results: list[EventResult] = []
    with Session(engine) as session:
        if first is not None:
            first(session)
        seen = idempotency.processed_among(
            session, consumer, [e.id for e, _ in events], service=service
        )
        if isinstance(apply, BatchApply):
            apply.prepare(session, [e for e, _ in events if e.id not in seen])
        applied: list[str] = []
        for event, headers in events:
            fresh = event.id not in seen
            with tracer.start_as_current_span(
                f"{consumer} process {event.type}",
                context=context_from(headers) if headers else None,
                kind=trace.SpanKind.CONSUMER,
                attributes={"messaging.message.id": event.id, "cloudevents.event_type": event.type},
            ) as span:
                if guarded:
                    results.append(_apply_guarded(session, consumer, event, apply, seen))
                else:
                    results.append(_apply_unguarded(session, event, apply, seen))
                span.set_attribute("mch.result", results[-1].status)
            if fresh and results[-1].status not in ("held", "rejected"):
                # Claimed in bulk below, in the same transaction as the changes. A held event is
                # claimed when it is finally applied.
                applied.append(event.id)
                seen.add(event.id)
        try:
            # Exclusive: a copy of the batch applied at the same time by another consumer (after a
            # rebalance) makes this transaction roll back, and the retry finds it processed.
            idempotency.claim_all(session, consumer, applied, service=service, exclusive=True)
            session.commit()
        except Exception as exc:
            if guarded:
                raise
            raise _Unguarded(f"writing the batch failed: {type(exc).__name__}") from exc
    return results


def _apply_unguarded(
    session: Session, event: CloudEvent, apply: ApplyFn, seen: set[str]
) -> EventResult:
    if event.id in seen:
        return EventResult(id=event.id, status="duplicate")
    try:
        result = apply(session, event, parse_data(event))
    except EventError as exc:
        return EventResult(id=event.id, status="rejected", problems=exc.problems)
    except Exception as exc:
        raise _Unguarded(f"event {event.id} failed: {type(exc).__name__}") from exc
    return result


def _apply_guarded(
    session: Session, consumer: str, event: CloudEvent, apply: ApplyFn, seen: set[str]
) -> EventResult:
    if event.id in seen:
        return EventResult(id=event.id, status="duplicate")
    savepoint = session.begin_nested()
    try:
        data = parse_data(event)
        result = apply(session, event, data)
        if result.status == "rejected":
            raise EventError(result.problems)
        savepoint.commit()
        return result
    except EventError as exc:
        savepoint.rollback()
        return EventResult(id=event.id, status="rejected", problems=exc.problems)
    except (OperationalError, InterfaceError):
        # The database failed, not necessarily the event: the batch is retried, and split only if
        # the failure persists (see consume_batch).
        raise
    except Exception as exc:
        # A bug or a bad row must not stop the consumer: the event goes to the dead letters.
        log.exception("%s failed on event %s", consumer, event.id)
        savepoint.rollback()
        return EventResult(
            id=event.id,
            status="rejected",
            problems=[
                Problem(
                    code=ReasonCode.PROCESSING_ERROR,
                    message=f"{type(exc).__name__}: {exc}"[:500],
                )
            ],
        )


def header_text(value: bytes | None) -> str:
    """A Kafka header value as text; Kafka allows a header without a value."""
    return value.decode("utf-8", "replace") if value is not None else ""


def decode(record: KafkaRecord) -> tuple[CloudEvent, dict[str, str]]:
    """Decode one record; raises ``EventError`` and nothing else."""
    try:
        headers = {k: header_text(v) for k, v in record.headers}
        return from_kafka(record.value or b"", headers), headers
    except EventError:
        raise
    except Exception as exc:
        log.warning("undecodable record %s/%s/%s", record.topic, record.partition, record.offset)
        raise EventError(
            [
                Problem(
                    code=ReasonCode.INVALID_ENVELOPE,
                    rule="unexpected_error",
                    message=f"{type(exc).__name__}: {exc}"[:300],
                )
            ]
        ) from exc


@dataclass(frozen=True)
class Retry:
    """How a batch that fails as a whole is tried again before it is split."""

    attempts: int = 3
    backoff_s: float = 0.5
    """Wait before the second attempt, doubled before each further one."""


DEFAULT_RETRY = Retry()
Decoded = tuple[KafkaRecord, CloudEvent, dict[str, str]]


async def consume_batch(
    records: Sequence[KafkaRecord],
    *,
    engine: Engine,
    consumer: str,
    service: str,
    apply: ApplyFn,
    dead_letters: DeadLetters,
    retry: Retry = DEFAULT_RETRY,
    positions: PositionsFn | None = None,
) -> BatchSummary:
    """Process one batch of Kafka records end to end (see module docstring); ``positions`` is
    given the log positions of what each transaction applies (see ``PositionsFn``)."""
    summary = BatchSummary(received=len(records))
    decoded: list[Decoded] = []
    for record in records:
        try:
            event, headers = decode(record)
        except EventError as exc:
            summary.rejected.append((record, exc.problems))
            continue
        decoded.append((record, event, headers))
    if decoded:
        results = await _BatchRun(engine, consumer, service, apply, retry, positions).run(decoded)
        summary.results = results
        for (record, _, _), result in zip(decoded, results, strict=True):
            if result.status == "rejected":
                summary.rejected.append((record, result.problems))
    # All at once: one by one, a flood of bad records would be dead-lettered at the pace of one
    # broker round trip each.
    await asyncio.gather(*(dead_letters.send(r, problems) for r, problems in summary.rejected))
    return summary


@dataclass
class _BatchRun:
    engine: Engine
    consumer: str
    service: str
    apply: ApplyFn
    retry: Retry
    positions: PositionsFn | None = None

    async def run(self, items: Sequence[Decoded]) -> list[EventResult]:
        error: Exception | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.backoff_s * 2 ** (attempt - 1))
            try:
                return await self._apply(items)
            except Exception as exc:
                error = exc
                log.warning(
                    "%s: a batch of %d failed (attempt %d of %d): %s: %s",
                    self.consumer,
                    len(items),
                    attempt + 1,
                    self.retry.attempts,
                    type(exc).__name__,
                    exc,
                )
        assert error is not None
        await self._database_must_answer(error)
        return await self._bisect(items, error)

    async def _apply(self, items: Sequence[Decoded]) -> list[EventResult]:
        first: Callable[[Session], None] | None = None
        if (keep := self.positions) is not None:
            where = _positions(r for r, _, _ in items)

            def first(session: Session) -> None:
                keep(session, where)

        return await asyncio.to_thread(
            functools.partial(
                apply_events,
                self.engine,
                self.consumer,
                [(e, h) for _, e, h in items],
                self.apply,
                service=self.service,
                first=first,
            )
        )

    async def _bisect(self, items: Sequence[Decoded], error: Exception) -> list[EventResult]:
        if len(items) == 1:
            await self._database_must_answer(error)
            record, event, _ = items[0]
            log.error(
                "%s: event %s (%s/%s/%s) fails its batch: %s: %s",
                self.consumer,
                event.id,
                record.topic,
                record.partition,
                record.offset,
                type(error).__name__,
                error,
            )
            return [
                EventResult(
                    id=event.id,
                    status="rejected",
                    problems=[
                        Problem(
                            code=ReasonCode.PROCESSING_ERROR,
                            rule="fails_its_batch",
                            message=f"{type(error).__name__}: {error}"[:500],
                        )
                    ],
                )
            ]
        middle = len(items) // 2
        results: list[EventResult] = []
        for half in (items[:middle], items[middle:]):
            try:
                results += await self._apply(half)
            except Exception as exc:
                results += await self._bisect(half, exc)
        return results

    async def _database_must_answer(self, error: Exception) -> None:
        # When the database itself is down every event would look guilty: dead-letter none, and
        # let the batch be consumed again.
        if not await asyncio.to_thread(_database_answers, self.engine):
            raise error


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _positions(records: Iterable[KafkaRecord]) -> dict[tuple[str, int], int]:
    found: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        found[key] = max(found.get(key, 0), record.offset + 1)
    return found
