"""Broker settings → FastStream security and aiokafka options, for PLAINTEXT, TLS and SASL."""

from __future__ import annotations

import ssl

import pytest
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from mch_events.broker import KafkaSettings, client_options, make_broker


def test_plaintext_needs_no_security() -> None:
    settings = KafkaSettings(bootstrap_servers="kafka:9092")
    assert settings.security() is None
    assert client_options(settings) == {
        "bootstrap_servers": "kafka:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_tls_gives_an_ssl_context() -> None:
    security = KafkaSettings(security_protocol="SSL").security()
    assert isinstance(security, BaseSecurity)
    assert isinstance(security.ssl_context, ssl.SSLContext)
    assert security.use_ssl


@pytest.mark.parametrize(
    ("mechanism", "kind"),
    [("PLAIN", SASLPlaintext), ("SCRAM-SHA-256", SASLScram256), ("SCRAM-SHA-512", SASLScram512)],
)
def test_sasl_mechanisms(mechanism: str, kind: type[BaseSecurity]) -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username="records",
        sasl_password="s3cret",
    )
    security = settings.security()
    assert isinstance(security, kind)
    assert security.use_ssl
    options = client_options(settings)
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_password"] == "s3cret"
    assert "s3cret" not in repr(settings), "the password must not leak into logs"


def test_sasl_without_credentials_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="KAFKA_SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT").security()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9093,k2:9093")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "growth")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "pw")
    settings = KafkaSettings()
    assert settings.bootstrap_servers == "k1:9093,k2:9093"
    assert isinstance(settings.security(), SASLScram512)
    broker = make_broker(settings, service="growth")
    assert broker.config.client_id == "mch-growth"
