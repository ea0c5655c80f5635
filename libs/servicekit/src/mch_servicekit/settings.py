"""Settings every service reads from its environment (see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"records": 8001, "immunization": 8002, "growth": 8003, "reporting": 8004}


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service: str
    host: str = "127.0.0.1"
    port: int = 0
    """0 means the service's default port."""
    database_url: str | None = None
    """Unset: SQLite under ``data_dir``."""
    data_dir: Path = Path("data")
    log_level: str = "INFO"
    kafka_create_topics: bool = True
    """Create missing topics at start (one-machine mode); deployments create them in a job."""
    kafka_topic_partitions: int = Field(default=3, ge=1)
    """Partitions of the topics the service creates: the most consumers of one group (over all
    processes, ``consumer_concurrency`` each) that get work."""
    consumer_batch_size: int = Field(default=500, ge=1)
    consumer_concurrency: int = Field(default=1, ge=1)
    """Consumers of the service's group in this process, each with partitions of its own and its
    batches in a worker thread: batches of different partitions are applied at the same time,
    those of one partition in order. More than 1 pays on PostgreSQL; SQLite writes one at a time."""
    consumer_idle_wait_ms: int = Field(default=10, ge=1)
    """How long a consumer that found nothing to read waits for a record, and then pauses, before
    it asks again: a record arriving during the pause waits for its end. A consumer with records
    waiting takes them at once, whatever this says."""
    consumer_stall_seconds: float = 120.0
    """A consumer with events waiting that completes no batch for this long is not ready."""

    def resolved_port(self) -> int:
        return self.port or DEFAULT_PORTS.get(self.service, 8000)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{self.service}.db').as_posix()}"
