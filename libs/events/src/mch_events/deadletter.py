"""Dead letters: what a consumer cannot process goes to ``mch.dead-letters.v1`` unchanged (only a
body over ``MAX_DEAD_LETTER_BYTES`` is cut), with the reason in headers, so that nothing stops a
consumer and nothing is silently dropped."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from .contracts.results import Problem, ReasonCode
from .envelope import CloudEvent, subject_key, to_kafka
from .topics import DEAD_LETTERS

log = logging.getLogger(__name__)

REASON_HEADER = "mch-dlq-reason"
PROBLEMS_HEADER = "mch-dlq-problems"
TRUNCATED_HEADER = "mch-dlq-truncated-from"
"""Set (to the original size in bytes) when the body was cut to ``MAX_DEAD_LETTER_BYTES``."""
MAX_DEAD_LETTER_BYTES = 256 * 1024
"""Far above any acceptable event (64 KiB), well below what a producer may send (1 MiB by default):
a record too large to publish again would fail its batch each time it is consumed."""
MAX_KEPT_HEADERS = 64
MAX_KEPT_HEADER_CHARS = 2048
"""Of the original headers, the first ``MAX_KEPT_HEADERS`` are kept, each cut to this length: the
copy must stay publishable whatever the original carried."""


class KafkaRecord(Protocol):
    """What a consumed record offers (aiokafka's ``ConsumerRecord`` fits)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


class Publisher(Protocol):
    async def publish(
        self, message: Any, topic: str = "", *, key: Any = None, headers: Any = None
    ) -> Any: ...


def dead_letter_headers(
    problems: Sequence[Problem],
    *,
    service: str,
    original_headers: dict[str, str],
    origin: str,
) -> dict[str, str]:
    """The original headers plus the reason: the first problem's code, and all problems as JSON."""
    code = problems[0].code if problems else ReasonCode.PROCESSING_ERROR
    headers = dict(original_headers)
    headers.update(
        {
            REASON_HEADER: code.value,
            PROBLEMS_HEADER: json.dumps(
                [p.model_dump(mode="json", exclude_none=True) for p in problems],
                ensure_ascii=False,
            )[:8000],
            "mch-dlq-service": service,
            "mch-dlq-origin": origin,
            "mch-dlq-at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )
    return headers


class DeadLetters:
    """Publishes unusable records to the dead-letter topic."""

    def __init__(self, publisher: Publisher, service: str) -> None:
        self._publisher = publisher
        self._service = service

    async def send(self, record: KafkaRecord, problems: Sequence[Problem]) -> None:
        original = {
            k[:256]: (v.decode("utf-8", "replace") if v is not None else "")[:MAX_KEPT_HEADER_CHARS]
            for k, v in itertools.islice(record.headers, MAX_KEPT_HEADERS)
        }
        headers = dead_letter_headers(
            problems,
            service=self._service,
            original_headers=original,
            origin=f"{record.topic}/{record.partition}/{record.offset}",
        )
        log.warning(
            "dead-lettered %s/%s/%s: %s",
            record.topic,
            record.partition,
            record.offset,
            headers[REASON_HEADER],
        )
        body = record.value or b""
        if len(body) > MAX_DEAD_LETTER_BYTES:
            headers[TRUNCATED_HEADER] = str(len(body))
            body = body[:MAX_DEAD_LETTER_BYTES]
        await self._publisher.publish(body, DEAD_LETTERS, key=record.key, headers=headers)

    async def send_event(self, event: CloudEvent, problems: Sequence[Problem], origin: str) -> None:
        """Dead-letter an event that reached the service some other way (HTTP) or was held."""
        body, original = to_kafka(event)
        headers = dead_letter_headers(
            problems, service=self._service, original_headers=original, origin=origin
        )
        log.warning("dead-lettered event %s (%s): %s", event.id, origin, headers[REASON_HEADER])
        await self._publisher.publish(body, DEAD_LETTERS, key=subject_key(event), headers=headers)
