"""One set of numbers: the topics in Compose, in the chart and in the operator guide agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

REPO = Path(__file__).resolve().parents[2]
TOPICS_CONF = REPO / "deploy" / "compose" / "kafka" / "topics.conf"
GUIDE = REPO / "deploy" / "README.md"


def compose_topics() -> dict[str, tuple[int, int]]:
    topics: dict[str, tuple[int, int]] = {}
    for line in TOPICS_CONF.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, partitions, retention = line.split()[:3]
            topics[name] = (int(partitions), int(retention))
    return topics


def chart_topics(chart: helm.Chart) -> dict[str, tuple[int, int]]:
    values: dict[str, Any] = chart.values
    return {
        t["name"]: (int(t["partitions"]), int(t["retentionMs"])) for t in values["topics"].values()
    }


def test_compose_and_chart_declare_the_same_topics(chart: helm.Chart) -> None:
    assert compose_topics() == chart_topics(chart)


def test_topics_are_those_of_docs_architecture(
    chart: helm.Chart, architecture_topics: set[str]
) -> None:
    assert set(chart_topics(chart)) == architecture_topics


def test_every_consumer_has_a_topic_with_enough_partitions(chart: helm.Chart) -> None:
    values = chart.values
    for name, service in values["services"].items():
        ceiling = max(int(values["topics"][key]["partitions"]) for key in service["consumes"])
        consumers = int(service["consumer"]["concurrency"])
        assert service["replicas"] * consumers <= ceiling, name
        assert service["autoscaling"]["maxReplicas"] * consumers <= ceiling, name


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_guide_states_the_partitions_and_retention_of_every_topic(
    guide: str, chart: helm.Chart
) -> None:
    for name, (partitions, retention_ms) in chart_topics(chart).items():
        row = next(
            (line for line in guide.splitlines() if line.startswith("|") and f"`{name}`" in line),
            None,
        )
        assert row is not None, f"no table row for {name}"
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert str(partitions) in cells, (name, cells)
        days = retention_ms // 86_400_000
        assert any(cell.startswith(f"{days} days") for cell in cells), (name, cells)


@pytest.mark.parametrize(
    "heading",
    [
        "Sizing",
        "Partitions",
        "Retention and replay",
        "Backups",
        "Upgrading",
        "Rotating secrets",
        "Traces",
    ],
)
def test_guide_has_the_operator_sections(guide: str, heading: str) -> None:
    assert re.search(rf"^#+ .*{heading}", guide, flags=re.MULTILINE), heading


def test_guide_uses_the_commands_and_variables_of_docs_architecture(
    guide: str, architecture_env: set[str]
) -> None:
    for command in ("mch migrate", "mch serve"):
        assert command in guide
    mentioned = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", guide))
    platform_like = {m for m in mentioned if m.startswith(("KAFKA_", "OTEL_", "DATABASE_"))}
    unknown = (
        platform_like
        - architecture_env
        - {
            # Broker-side and Compose-only settings, not service variables.
            "KAFKA_REPLICATION_FACTOR",
            "KAFKA_MIN_INSYNC_REPLICAS",
            "KAFKA_CLUSTER_ID",
            "KAFKA_CONTROLLER_QUORUM_VOTERS",
            "KAFKA_HEAP_OPTS",
            "KAFKA_IMAGE",
            "KAFKA_HOST_PORT",
        }
    )
    assert not unknown, unknown
