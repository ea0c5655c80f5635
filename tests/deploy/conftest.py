"""Fixtures of the deployment checks.

No cluster and no Docker engine: the chart is rendered with Helm v4's Go SDK through
`helm-python-sdk`, manifests are validated against the Kubernetes 1.37 API schemas with
`kubernetes-validate`, and the Compose file against the Compose specification with
`check-jsonschema`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "deploy" / "helm" / "mch-platform"
COMPOSE_DIR = REPO / "deploy" / "compose"
ARCHITECTURE = REPO / "docs" / "architecture.md"

SERVICES = ("records", "immunization", "growth", "reporting")
RELEASE = "mch"
NAMESPACE = "mch"

# Kinds whose schemas are CustomResourceDefinitions: kubernetes-validate has no schema for them.
CRD_KINDS = frozenset(
    {"ScaledObject", "TriggerAuthentication", "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
)

STRIMZI_ON = {
    "strimzi": {
        "kafka": {"enabled": True},
        "topics": {"enabled": True},
        "users": {"enabled": True},
    },
    "kafka": {
        "bootstrapServers": "mch-kafka-kafka-bootstrap:9093",
        "securityProtocol": "SASL_SSL",
        "tls": {"caSecret": "mch-kafka-cluster-ca-cert"},
    },
    "networkPolicy": {
        "kafka": {"peers": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": "mch-kafka"}}}]}
    },
}


def production_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (CHART_DIR / "values-production.yaml").read_text(encoding="utf-8")
    )
    return loaded


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# The value sets every structural check runs against.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "production": production_values(),
    "keda": {"autoscaling": {"enabled": True}},
    "strimzi": deep_merge(STRIMZI_ON, {"autoscaling": {"enabled": True}}),
    "production+strimzi": deep_merge(production_values(), STRIMZI_ON),
}


@pytest.fixture(scope="session", autouse=True)
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep Helm's cache/config/data directories out of the real HOME.

    Offline lint and render write nothing today; this keeps it so should the SDK change.
    """
    home = tmp_path_factory.mktemp("helm-home")
    names = ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ[name] = str(home / name.lower())
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def chart(helm_home: Path) -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


def split_documents(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


@pytest.fixture(scope="session")
def render(chart: helm.Chart) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    """Render the chart with `values` (layered over values.yaml) into parsed documents."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
        key = json.dumps(values, sort_keys=True)
        if key not in cache:
            cache[key] = split_documents(
                chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
            )
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_text(chart: helm.Chart) -> Callable[[dict[str, Any]], str]:
    def _render_text(values: dict[str, Any]) -> str:
        rendered = chart.render(values=values, name=RELEASE, namespace=NAMESPACE)
        return "\n".join(text for _, text in sorted(rendered.items()))

    return _render_text


@pytest.fixture(params=sorted(VARIANTS), scope="session")
def variant(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    name: str = request.param
    return name, VARIANTS[name]


@pytest.fixture(scope="session")
def architecture_env() -> set[str]:
    """Environment variable names of the table in docs/architecture.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    assert {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "PORT", "HOST"} <= names, names
    return names


@pytest.fixture(scope="session")
def architecture_ports() -> dict[str, int]:
    """Default port of each service, from docs/architecture.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    ports = {name: int(port) for name, port in re.findall(r"\b([a-z]+) (80\d\d)\b", text)}
    assert set(SERVICES) <= set(ports), ports
    return {name: ports[name] for name in SERVICES}


@pytest.fixture(scope="session")
def architecture_topics() -> set[str]:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    topics = set(re.findall(r"^\| `(mch\.[a-z0-9.-]+)`", text, flags=re.MULTILINE))
    assert len(topics) == 5, topics
    return topics


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


def component(doc: dict[str, Any]) -> str:
    value: str = doc["metadata"]["labels"]["app.kubernetes.io/component"]
    return value


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The module's helper functions for test modules (imports between test files are avoided
    under --import-mode=importlib)."""

    class _Helpers:
        REPO = REPO
        CHART_DIR = CHART_DIR
        COMPOSE_DIR = COMPOSE_DIR
        SERVICES = SERVICES
        CRD_KINDS = CRD_KINDS
        VARIANTS = VARIANTS
        STRIMZI_ON = STRIMZI_ON
        by_kind = staticmethod(by_kind)
        component = staticmethod(component)
        selects = staticmethod(selects)
        deep_merge = staticmethod(deep_merge)
        production_values = staticmethod(production_values)

    return _Helpers
