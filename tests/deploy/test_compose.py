"""deploy/compose: the Compose specification, and what the stack must hold together."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SERVICES = ("records", "immunization", "growth", "reporting")
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR:?error} substitution (enough for the tests)."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg or ""
        if op == ":?":
            raise KeyError(name)
        return ""

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", replace, str(value))


# --- the specification --------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec() -> None:
    assert CHECK_JSONSCHEMA.exists(), CHECK_JSONSCHEMA
    result = check_compose_spec(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_check_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text(encoding="utf-8").replace(
        "condition: service_completed_successfully", "condition: service_finished", 1
    )
    path = tmp_path / "compose.yaml"
    path.write_text(broken, encoding="utf-8")
    result = check_compose_spec(path)
    assert result.returncode != 0, result.stdout


# --- Kafka -------------------------------------------------------------------------------------------


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("${KAFKA_IMAGE:-apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_NODE_ID"] == 1
    assert "profiles" not in kafka, "one node runs by default"
    assert "zookeeper" not in COMPOSE_FILE.read_text(encoding="utf-8").lower()
    assert "service_healthy" not in str(kafka.get("depends_on", {}))
    assert "kafka-broker-api-versions.sh" in str(kafka["healthcheck"]["test"])
    # An acknowledged write is never lost to an out-of-sync replica becoming leader.
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_kafka_ha_profile_runs_three_nodes_with_replication_factor_3(
    services: dict[str, dict[str, Any]],
) -> None:
    ha = env_file(COMPOSE_DIR / ".env.example") | env_file(COMPOSE_DIR / "kafka-ha.env")
    assert ha["COMPOSE_PROFILES"] == "kafka-ha"
    nodes = {
        name: svc
        for name, svc in services.items()
        if svc.get("image", "").startswith("${KAFKA_IMAGE")
        and "KAFKA_NODE_ID" in svc.get("environment", {})
    }
    assert set(nodes) == {"kafka", "kafka-2", "kafka-3"}
    assert services["kafka-2"]["profiles"] == ["kafka-ha"]
    assert services["kafka-3"]["profiles"] == ["kafka-ha"]
    voters = interpolate(services["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"], ha)
    expected_voters = {
        f"{svc['environment']['KAFKA_NODE_ID']}@{svc['hostname']}:9093" for svc in nodes.values()
    }
    assert set(voters.split(",")) == expected_voters
    for name, svc in nodes.items():
        env = {k: interpolate(v, ha) for k, v in svc["environment"].items()}
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == voters, name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["CLUSTER_ID"] == ha["KAFKA_CLUSTER_ID"], "one cluster id on every node"
        assert f"PLAINTEXT://{svc['hostname']}:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    topics_env = {k: interpolate(v, ha) for k, v in services["kafka-topics"]["environment"].items()}
    assert topics_env["TOPIC_REPLICATION_FACTOR"] == "3"
    assert len(ha["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == 3
    # Default: one node, replication factor 1.
    single = env_file(COMPOSE_DIR / ".env.example")
    assert (
        interpolate(services["kafka"]["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"], single)
        == "1@kafka:9093"
    )
    assert (
        interpolate(services["kafka-topics"]["environment"]["TOPIC_REPLICATION_FACTOR"], single)
        == "1"
    )


def test_topics_job_creates_every_topic_once(
    services: dict[str, dict[str, Any]], architecture_topics: set[str]
) -> None:
    job = services["kafka-topics"]
    assert job["restart"] == "no"
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in job["volumes"]}
    script = (COMPOSE_DIR / mounts["/opt/mch/create-topics.sh"]).resolve()
    conf = (COMPOSE_DIR / mounts["/opt/mch/topics.conf"]).resolve()
    assert job["entrypoint"][-1] == "/opt/mch/create-topics.sh"
    text = script.read_text(encoding="utf-8")
    assert "--if-not-exists" in text
    assert "retention.ms" in text
    # On creation and on every later run: min ISR and no unclean leader election, per topic.
    assert '--config "min.insync.replicas=$MIN_ISR"' in text
    assert "--config unclean.leader.election.enable=false" in text
    assert "min.insync.replicas=$MIN_ISR,unclean.leader.election.enable=false" in text
    assert "--partitions" in text
    topics = [
        line.split()[0]
        for line in conf.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert sorted(topics) == sorted(architecture_topics)
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- PostgreSQL and migrations ----------------------------------------------------------------------


def test_postgres_has_one_database_and_one_user_per_service(
    services: dict[str, dict[str, Any]],
) -> None:
    postgres = services["postgres"]
    assert "pg_isready" in str(postgres["healthcheck"]["test"])
    mounts = dict(
        v.rsplit(":", 1)[0].split(":", 1)[::-1] for v in postgres["volumes"] if v.startswith("./")
    )
    init = [
        path for target, path in mounts.items() if target.startswith("/docker-entrypoint-initdb.d/")
    ]
    assert len(init) == 1
    script = (COMPOSE_DIR / init[0]).read_text(encoding="utf-8")
    assert "CREATE ROLE" in script
    assert "CREATE DATABASE" in script
    for service in SERVICES:
        assert re.search(rf"^create {service}\s", script, flags=re.MULTILINE), service
        variable = f"{service.upper()}_DB_PASSWORD"
        assert variable in postgres["environment"], variable
        # The service and its migration job connect as that user to that database only.
        for consumer in (service, f"migrate-{service}"):
            url = services[consumer]["environment"]["DATABASE_URL"]
            assert url == (
                f"postgresql+psycopg://{service}:${{{variable}}}@postgres:5432/{service}"
            ), consumer
    result = subprocess.run(
        ["bash", "-n", str(COMPOSE_DIR / init[0])], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_migrations_are_one_shot_jobs_that_gate_the_services(
    services: dict[str, dict[str, Any]],
) -> None:
    for service in SERVICES:
        job = services[f"migrate-{service}"]
        assert job["command"] == ["migrate", service]
        assert job["restart"] == "no"
        assert job["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" not in job
        app = services[service]
        assert app["command"] == ["serve", service]
        conditions = {name: dep["condition"] for name, dep in app["depends_on"].items()}
        assert conditions[f"migrate-{service}"] == "service_completed_successfully"
        assert conditions["kafka-topics"] == "service_completed_successfully"
        assert conditions["kafka"] == "service_healthy"


# --- the services -----------------------------------------------------------------------------------


def test_services_have_healthchecks_on_healthz(
    services: dict[str, dict[str, Any]], architecture_ports: dict[str, int]
) -> None:
    for service in SERVICES:
        app = services[service]
        check = app["healthcheck"]
        assert check["test"][0] == "CMD"
        assert "/healthz" in " ".join(check["test"])
        port = architecture_ports[service]
        assert app["environment"]["PORT"] == port
        assert any(str(p).endswith(f":{port}") for p in app["ports"]), service
        assert app["read_only"] is True
        assert app["cap_drop"] == ["ALL"]


def test_services_use_only_the_variables_of_docs_architecture(
    services: dict[str, dict[str, Any]], architecture_env: set[str]
) -> None:
    for name in [*SERVICES, *(f"migrate-{s}" for s in SERVICES)]:
        env = services[name]["environment"]
        assert set(env) <= architecture_env, f"{name}: {set(env) - architecture_env}"
    for service in SERVICES:
        env = services[service]["environment"]
        assert env["HOST"] == "0.0.0.0"
        assert env["OTEL_SERVICE_NAME"] == f"mch-{service}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert env["KAFKA_BOOTSTRAP_SERVERS"].startswith("${KAFKA_BOOTSTRAP_SERVERS")
        assert env["KAFKA_ENABLE_IDEMPOTENCE"] == "true", "Apache Kafka has the idempotent producer"


def test_every_required_variable_is_in_env_example() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    example = env_file(COMPOSE_DIR / ".env.example")
    without_default = set(re.findall(r"\$\{([A-Z0-9_]+)(?::\?[^}]*)?\}", text))
    assert without_default, "the passwords have no default"
    assert without_default <= set(example), without_default - set(example)
    for name, value in example.items():
        if "PASSWORD" in name:
            assert value == "", f"{name} must be left empty in .env.example"
    # Every variable of the file is documented in .env.example.
    every = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert every <= set(example), every - set(example)


# --- traces -------------------------------------------------------------------------------------------


def test_collector_sends_traces_to_jaeger(services: dict[str, dict[str, Any]]) -> None:
    collector = services["otel-collector"]
    source, target = collector["volumes"][0].split(":")[:2]
    assert f"--config={target}" in collector["command"]
    config = yaml.safe_load((COMPOSE_DIR / source).read_text(encoding="utf-8"))
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    exporters = [config["exporters"][name] for name in pipeline["exporters"]]
    assert any(e.get("endpoint", "").startswith("jaeger:") for e in exporters)
    assert services["jaeger"]["image"].startswith("${JAEGER_IMAGE:-jaegertracing/jaeger:")
    assert any(str(p).endswith(":16686") for p in services["jaeger"]["ports"])
