"""Settings → FastStream ``KafkaBroker``: one place for bootstrap servers, TLS/SASL and telemetry."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Callable, Iterable
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class KafkaSettings(BaseSettings):
    """``KAFKA_*`` environment variables (see docs/architecture.md)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id_prefix: str = "mch"
    enable_idempotence: bool = False
    """The idempotent producer (no duplicate and no reordering on a retried send): on for Apache
    Kafka in deployments; off by default because the embedded broker does not implement it."""
    session_timeout_ms: int = 10_000
    """A consumer silent this long leaves its group. Apache Kafka refuses less than its
    ``group.min.session.timeout.ms`` (6 s by default); the embedded broker answers a join only
    after half of it, so ``mch up`` and the tests use ``EMBEDDED_CONSUMER_ENV``."""
    heartbeat_interval_ms: int = 3_000
    fetch_max_wait_ms: int = 500
    """How long the broker may hold a consumer's fetch while it has nothing new. Apache Kafka
    answers as soon as a record arrives, so this only paces idle fetches; the embedded broker
    tends to hold the fetch for the time asked even when a record arrives, a pure wait on every
    hop, so ``EMBEDDED_CONSUMER_ENV`` asks for little."""

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return context

    def security(self) -> BaseSecurity | None:
        context = self.ssl_context()
        if not self.security_protocol.startswith("SASL"):
            return BaseSecurity(ssl_context=context) if context else None
        if not self.sasl_username or self.sasl_password is None:
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        password = self.sasl_password.get_secret_value()
        use_ssl = context is not None
        if self.sasl_mechanism == "SCRAM-SHA-256":
            return SASLScram256(self.sasl_username, password, ssl_context=context, use_ssl=use_ssl)
        if self.sasl_mechanism == "SCRAM-SHA-512":
            return SASLScram512(self.sasl_username, password, ssl_context=context, use_ssl=use_ssl)
        return SASLPlaintext(self.sasl_username, password, ssl_context=context, use_ssl=use_ssl)


def make_broker(
    settings: KafkaSettings,
    *,
    service: str,
    tracer_provider: TracerProvider | None = None,
) -> KafkaBroker:
    """A broker for one service. Writes wait for every in-sync replica (``acks=all``, so with
    ``min.insync.replicas=2`` an acknowledged event is on two brokers at least). The idempotent
    producer follows ``KAFKA_ENABLE_IDEMPOTENCE``: duplicates are harmless anyway (every consumer
    dedupes by event id), and the embedded broker does not implement it."""
    return KafkaBroker(
        settings.bootstrap_servers,
        security=settings.security(),
        client_id=f"{settings.client_id_prefix}-{service}",
        enable_idempotence=settings.enable_idempotence,
        acks="all",
        linger_ms=5,
        request_timeout_ms=15_000,  # a send to a broker that is down fails (and is retried) sooner
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=15.0,
        log_level=logging.DEBUG,  # one line per message is too much at INFO under load
    )


EMBEDDED_CONSUMER_ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "3000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "KAFKA_FETCH_MAX_WAIT_MS": "50",
}
"""Consumer timing for the embedded broker: a consumer joins its group in 1.5 s, not 5 s, and a
record waits for a held fetch a few milliseconds, not a hundred or more."""


def client_options(settings: KafkaSettings) -> dict[str, object]:
    """The same connection options for plain aiokafka clients (admin, tools, benchmarks)."""
    options: dict[str, object] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    context = settings.ssl_context()
    if context is not None:
        options["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = (
            settings.sasl_password.get_secret_value() if settings.sasl_password else None
        )
    return options


class TopicGuard:
    """Makes sure topics exist before anything is published to them.

    A broker that restarted empty (the embedded one keeps nothing) may accept writes to a topic it
    no longer has and drop them; asking first turns that into a retry instead of a loss. With
    ``create`` off (deployments, where a job owns the topics) a missing topic is an error."""

    def __init__(self, settings: KafkaSettings, *, create: bool, partitions: int = 3) -> None:
        self._settings = settings
        self._create = create
        self._partitions = partitions
        self._admin: Any = None

    async def ensure(self, names: Iterable[str]) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        if self._admin is None:
            admin = AIOKafkaAdminClient(**client_options(self._settings))
            await admin.start()
            self._admin = admin
        try:
            existing = set(await self._admin.list_topics())
        except Exception:
            await self.close()  # reconnect from scratch next time
            raise
        missing = sorted(set(names) - existing)
        if not missing:
            return
        if not self._create:
            raise RuntimeError(f"topics missing on the broker: {', '.join(missing)}")
        with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
            await self._admin.create_topics(
                [
                    NewTopic(n, num_partitions=self._partitions, replication_factor=1)
                    for n in missing
                ]
            )
        log.info("created topics %s", ", ".join(missing))

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()


class ResetBeyondEnd(ConsumerRebalanceListener):  # type: ignore[misc]
    """On each assignment, a partition whose committed offset lies beyond the end of its log is
    read from its beginning.

    A broker that restarted empty (the embedded one keeps nothing; a Kafka cluster rebuilt from
    nothing) may be handed the offsets of the log it lost: a consumer still holding its old
    positions commits them into the new group. Apache Kafka answers a fetch there with
    OFFSET_OUT_OF_RANGE, and ``auto_offset_reset`` applies; the embedded broker answers with
    nothing, for ever, and the consumer sits idle, assigned and ready, until the new log grows past
    the old offset (and then skips what came before). Checking the committed offsets against the
    log ends makes both brokers behave like Kafka."""

    def __init__(self, consumer: Callable[[], AIOKafkaConsumer | None]) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        consumer = self._consumer()
        if consumer is None or not assigned:
            return
        try:
            ends = await consumer.end_offsets(list(assigned))
            beyond = []
            for tp in sorted(assigned):
                committed = await consumer.committed(tp)
                if committed is not None and committed > ends.get(tp, committed):
                    beyond.append(tp)
        except Exception as exc:  # the broker went away again: the next assignment checks
            log.warning("could not compare committed offsets with the log ends: %s", exc)
            return
        if beyond:
            log.warning(
                "committed offsets beyond the end of the log (the broker lost it): reading %s "
                "from the beginning",
                ", ".join(f"{tp.topic}[{tp.partition}]" for tp in beyond),
            )
            await consumer.seek_to_beginning(*beyond)
