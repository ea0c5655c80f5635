"""Settings → FastStream ``KafkaBroker``: one place for bootstrap servers, TLS/SASL and telemetry."""

from __future__ import annotations

import contextlib
import logging
import ssl
from typing import Literal

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from opentelemetry.trace import TracerProvider
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    """A broker for one service. The idempotent producer stays off: duplicates are harmless
    (every consumer dedupes by event id) and the embedded broker does not implement it."""
    return KafkaBroker(
        settings.bootstrap_servers,
        security=settings.security(),
        client_id=f"{settings.client_id_prefix}-{service}",
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=tracer_provider),),
        graceful_timeout=15.0,
        log_level=logging.DEBUG,  # one line per message is too much at INFO under load
    )


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


async def ensure_topics(settings: KafkaSettings, names: list[str], partitions: int = 3) -> None:
    """Create the topics that do not exist yet (one-machine mode and tests)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another service was first
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
                )
    finally:
        await admin.close()
