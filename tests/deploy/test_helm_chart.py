"""The Helm chart deploy/helm/mch-platform: lint, render, Kubernetes 1.37 schemas, properties."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "mch-platform"
SERVICES = ("records", "immunization", "growth", "reporting")
KUBERNETES_VERSION = "1.37.0"
WORKLOAD_KINDS = ("Deployment", "Job")


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(description, pod spec) of every Deployment and Job."""
    return [
        (f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"])
        for doc in docs
        if doc["kind"] in WORKLOAD_KINDS
    ]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def deployments(docs: list[dict[str, Any]], helpers: Any) -> dict[str, dict[str, Any]]:
    return {helpers.component(d): d for d in helpers.by_kind(docs, "Deployment")}


# --- the tools ----------------------------------------------------------------------------------


def test_helm_sdk_is_helm_4() -> None:
    assert helm.helm_sdk_version().startswith("v4."), helm.helm_sdk_version()


@pytest.mark.parametrize("name", ["default", "production", "keda", "strimzi"])
def test_chart_lints_clean(name: str, helpers: Any) -> None:
    report = helm.lint(
        CHART_DIR, values=helpers.VARIANTS[name], strict=True, kube_version="v1.37.0"
    )
    assert report["errors"] == []
    # Severity 1 is informational (e.g. "icon is recommended"); 2 is a warning, 3 an error.
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_lint_reports_schema_violations() -> None:
    report = helm.lint(CHART_DIR, values={"podSecurityContext": {"runAsUser": 0}})
    assert report["errors"], report


def test_every_manifest_validates_against_kubernetes_1_37(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any
) -> None:
    name, values = variant
    docs = render(values)
    assert docs
    validated = 0
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            validated += 1
        except kubernetes_validate.SchemaNotFoundError:
            # Only the CRDs of KEDA and Strimzi may lack a schema; anything else is a typo.
            assert doc["kind"] in helpers.CRD_KINDS, f"{name}: no schema for {doc['kind']}"
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert validated >= 20


def test_schema_validation_catches_a_wrong_field() -> None:
    """The check above can fail: a misspelt field is refused in strict mode."""
    bad = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "x"},
        "spec": {"maxUnavailabel": 1, "selector": {"matchLabels": {"a": "b"}}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_default_render_has_the_expected_resources(render: Any, helpers: Any) -> None:
    docs = render({})
    kinds = sorted(doc["kind"] for doc in docs)
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    assert counts == {
        "Deployment": 4,
        "Service": 4,
        "PodDisruptionBudget": 4,
        "Ingress": 4,
        "Job": 4,
        "NetworkPolicy": 8,  # one per service and one per migration job
        "ServiceAccount": 1,
    }
    assert set(deployments(docs, helpers)) == set(SERVICES)
    # Off by default: KEDA and Strimzi.
    assert not any(doc["kind"] in helpers.CRD_KINDS for doc in docs)
    assert not any(doc["kind"] in ("Secret", "ConfigMap") for doc in docs)


# --- security ----------------------------------------------------------------------------------


def test_pods_run_as_non_root_with_a_locked_down_container(
    variant: tuple[str, dict[str, Any]], render: Any
) -> None:
    specs = pod_specs(render(variant[1]))
    assert len(specs) == 8
    for what, spec in specs:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, what
        assert psc["runAsUser"] > 0, what
        assert psc["seccompProfile"]["type"] == "RuntimeDefault", what
        assert spec["automountServiceAccountToken"] is False, what
        assert not spec.get("hostNetwork"), what
        assert not spec.get("hostPID"), what
        assert not any("hostPath" in volume for volume in spec.get("volumes", [])), what
        for container in spec["containers"]:
            csc = container["securityContext"]
            assert csc["allowPrivilegeEscalation"] is False, what
            assert csc["readOnlyRootFilesystem"] is True, what
            assert csc["capabilities"]["drop"] == ["ALL"], what
            assert not csc.get("capabilities", {}).get("add"), what
            assert not csc.get("privileged"), what
            assert csc.get("runAsUser", psc["runAsUser"]) != 0, what
            # A read-only root needs a writable /tmp.
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, what


def test_every_container_has_resources(variant: tuple[str, dict[str, Any]], render: Any) -> None:
    for what, spec in pod_specs(render(variant[1])):
        for container in spec["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), what
            assert "memory" in resources["limits"], what


def test_secret_values_are_referenced_never_embedded(
    variant: tuple[str, dict[str, Any]], render: Any, render_text: Any
) -> None:
    name, values = variant
    docs = render(values)
    assert not [d for d in docs if d["kind"] == "Secret"], "the chart must not create Secrets"
    for what, spec in pod_specs(docs):
        for container in spec["containers"]:
            env = env_of(container)
            assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"], what
            for key, item in env.items():
                if "PASSWORD" in key or key == "DATABASE_URL":
                    assert "value" not in item, f"{what}: {key} has a literal value"
                    assert "secretKeyRef" in item["valueFrom"], f"{what}: {key}"
    text = render_text(values)
    # No credentials in a URL, and no database URL at all.
    assert not re.search(r"://[^/\s:@\"']+:[^@\s\"']+@", text), name
    assert "postgresql" not in text, name


def test_sasl_password_comes_from_the_services_secret(render: Any, helpers: Any) -> None:
    values = helpers.production_values()
    for service, deployment in deployments(render(values), helpers).items():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        ref = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == values["services"][service]["kafka"]["sasl"]["existingSecret"]


FAKE_PASSWORD = "Fake-Pa55word-do-not-render"


@pytest.mark.parametrize(
    "values",
    [
        # A URL with a password where a Secret name is expected.
        {
            "services": {
                "records": {
                    "database": {
                        "existingSecret": f"postgresql+psycopg://records:{FAKE_PASSWORD}@db/records"
                    }
                }
            }
        },
        # Fields that do not exist: there is nowhere to put a password in values.
        {"services": {"records": {"database": {"url": f"postgresql://r:{FAKE_PASSWORD}@db/r"}}}},
        {"services": {"growth": {"kafka": {"sasl": {"password": FAKE_PASSWORD}}}}},
        {"kafka": {"saslPassword": FAKE_PASSWORD}},
    ],
    ids=["url-as-secret-name", "database-url", "sasl-password", "kafka-password"],
)
def test_a_password_in_values_is_refused(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.render(values=values, name="mch", namespace="mch")
    assert "schema" in str(caught.value)


def test_kafka_tls_files_come_from_mounted_secrets(render: Any, helpers: Any) -> None:
    values = helpers.deep_merge(
        helpers.production_values(),
        {"services": {"growth": {"kafka": {"tls": {"existingSecret": "mch-growth-kafka-tls"}}}}},
    )
    for service, deployment in deployments(render(values), helpers).items():
        spec = deployment["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = env_of(container)
        files = {k: env[k]["value"] for k in env if k.startswith("KAFKA_SSL_")}
        expected = {"KAFKA_SSL_CAFILE"} | (
            {"KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"} if service == "growth" else set()
        )
        assert set(files) == expected, service
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for path in files.values():
            directory = path.rsplit("/", 1)[0]
            volume = volumes[mounts[directory]]
            assert "secret" in volume, (service, path)


# --- probes, ports and environment -----------------------------------------------------------------


def test_every_service_container_has_probes_on_health_paths(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any, architecture_ports: Any
) -> None:
    for service, deployment in deployments(render(variant[1]), helpers).items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert ports == {"http": architecture_ports[service]}, service
            assert env_of(container)["PORT"]["value"] == str(ports["http"])
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_environment_is_that_of_docs_architecture(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any, architecture_env: set[str]
) -> None:
    docs = render(variant[1])
    for what, spec in pod_specs(docs):
        for container in spec["containers"]:
            names = set(env_of(container))
            assert names <= architecture_env, f"{what}: {names - architecture_env}"
    for service, deployment in deployments(docs, helpers).items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        assert container["args"] == ["serve", service]
        assert env["HOST"]["value"] == "0.0.0.0"
        assert env["OTEL_SERVICE_NAME"]["value"] == f"mch-{service}"
        assert {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "DATABASE_URL"} <= set(env)
        assert env["KAFKA_ENABLE_IDEMPOTENCE"]["value"] == "true"


def test_the_issuer_reaches_every_service(render: Any, helpers: Any) -> None:
    auth = {
        "issuer": "https://id.example.vn/realms/mch",
        "jwksUrl": "https://id.example.vn/realms/mch/protocol/openid-connect/certs",
        "audience": "mch-platform",
    }
    for deployment in deployments(render({"auth": auth}), helpers).values():
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        assert env["AUTH_ISSUER"]["value"] == auth["issuer"]
        assert env["AUTH_JWKS_URL"]["value"] == auth["jwksUrl"]
        assert env["AUTH_AUDIENCE"]["value"] == "mch-platform"


def test_facility_claims_are_required_of_records_with_keys_from_a_secret(
    render: Any, helpers: Any, architecture_env: set[str]
) -> None:
    claims = {"required": True, "keysSecret": "mch-facility-keys"}
    for service, deployment in deployments(render({"facilityClaims": claims}), helpers).items():
        spec = deployment["spec"]["template"]["spec"]
        container = spec["containers"][0]
        env = env_of(container)
        if service != "records":
            assert "REQUIRE_FACILITY_CLAIMS" not in env, service
            continue
        assert env["REQUIRE_FACILITY_CLAIMS"]["value"] == "true"
        path = env["FACILITY_KEYS_FILE"]["value"]
        assert path == "/etc/mch/facility-keys/facility-keys.json"
        assert {"REQUIRE_FACILITY_CLAIMS", "FACILITY_KEYS_FILE"} <= architecture_env
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volume = {v["name"]: v for v in spec["volumes"]}[mounts["/etc/mch/facility-keys"]]
        assert volume["secret"]["secretName"] == "mch-facility-keys"


# --- migrations ------------------------------------------------------------------------------------


def test_migrations_are_pre_install_and_pre_upgrade_hook_jobs(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any
) -> None:
    docs = render(variant[1])
    jobs = {
        d["spec"]["template"]["spec"]["containers"][0]["args"][1]: d
        for d in docs
        if d["kind"] == "Job"
    }
    assert set(jobs) == set(SERVICES)
    for service, job in jobs.items():
        annotations = job["metadata"]["annotations"]
        hooks = set(annotations["helm.sh/hook"].split(","))
        assert {"pre-install", "pre-upgrade"} <= hooks, service
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate", service]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert "livenessProbe" not in container
        assert "readinessProbe" not in container
        # The Job's own NetworkPolicy is a hook created before it.
        policy = [
            d
            for d in helpers.by_kind(docs, "NetworkPolicy")
            if helpers.selects(
                d["spec"]["podSelector"]["matchLabels"],
                job["spec"]["template"]["metadata"]["labels"],
            )
        ]
        assert len(policy) == 1, service
        policy_annotations = policy[0]["metadata"]["annotations"]
        assert int(policy_annotations["helm.sh/hook-weight"]) < int(
            annotations["helm.sh/hook-weight"]
        )
        assert hooks <= set(policy_annotations["helm.sh/hook"].split(","))
    # The services themselves never migrate on start.
    for deployment in helpers.by_kind(docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["args"][0] == "serve"


def test_migrations_can_be_turned_off(render: Any) -> None:
    docs = render({"migrations": {"enabled": False}})
    assert not [d for d in docs if d["kind"] == "Job"]


# --- availability: PDB, spread, network policies ------------------------------------------------------


def test_every_service_has_a_pdb_and_a_network_policy(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any
) -> None:
    docs = render(variant[1])
    merged_ports = {9092, 9093} if variant[0] in ("default", "keda") else {9093}
    for service, deployment in deployments(docs, helpers).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        pdbs = [
            d
            for d in helpers.by_kind(docs, "PodDisruptionBudget")
            if helpers.selects(d["spec"]["selector"]["matchLabels"], labels)
        ]
        assert len(pdbs) == 1, service
        assert pdbs[0]["spec"]["maxUnavailable"] == 1

        policies = [
            d
            for d in helpers.by_kind(docs, "NetworkPolicy")
            if helpers.selects(d["spec"]["podSelector"]["matchLabels"], labels)
        ]
        assert len(policies) == 1, service
        spec = policies[0]["spec"]
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}

        # Ingress: only from the ingress controller's namespace, only to the HTTP port.
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert len(spec["ingress"]) == 1, service
        rule = spec["ingress"][0]
        assert rule["ports"] == [{"protocol": "TCP", "port": port}]
        assert all("namespaceSelector" in peer for peer in rule["from"])
        assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "ingress-nginx"
        }

        # Egress: DNS, its database, Kafka, the collector; every rule has a destination.
        assert all(r.get("to") for r in spec["egress"]), service
        ports = {(p.get("protocol", "TCP"), p["port"]) for r in spec["egress"] for p in r["ports"]}
        assert {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 4318)} <= ports, service
        assert {("TCP", p) for p in merged_ports} <= ports, service
        database_rule = next(r for r in spec["egress"] if r["ports"][0]["port"] == 5432)
        database_labels = [
            p.get("podSelector", {}).get("matchLabels", {}) for p in database_rule["to"]
        ]
        assert any(service in str(m) for m in database_labels), "only its own database"


def test_replicas_spread_over_nodes(
    variant: tuple[str, dict[str, Any]], render: Any, helpers: Any
) -> None:
    for service, deployment in deployments(render(variant[1]), helpers).items():
        spec = deployment["spec"]["template"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        keys = {}
        for constraint in spec["topologySpreadConstraints"]:
            assert helpers.selects(constraint["labelSelector"]["matchLabels"], labels)
            keys[constraint["topologyKey"]] = constraint["whenUnsatisfiable"]
        assert keys["kubernetes.io/hostname"] == "DoNotSchedule", service
        assert "topology.kubernetes.io/zone" in keys, service
        anti = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        strategy = deployment["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0, service


def test_ingress_for_the_apis_and_the_dashboard(render: Any, helpers: Any) -> None:
    docs = render({})
    ingresses = {helpers.component(d): d for d in helpers.by_kind(docs, "Ingress")}
    assert set(ingresses) == set(SERVICES)
    services = {d["metadata"]["name"]: d for d in helpers.by_kind(docs, "Service")}
    for service, ingress in ingresses.items():
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] in services, service
        assert backend["port"] == {"name": "http"}
    assert ingresses["reporting"]["spec"]["rules"][0]["host"].startswith("dashboard.")

    tls = render(helpers.production_values())
    for ingress in helpers.by_kind(tls, "Ingress"):
        assert ingress["spec"]["tls"][0]["secretName"] == "mch-platform-tls"


# --- partitions and autoscaling ---------------------------------------------------------------------


def test_replicas_never_exceed_partitions(
    variant: tuple[str, dict[str, Any]], chart: helm.Chart, render: Any, helpers: Any
) -> None:
    name, values = variant
    merged = chart.merge_values(values)
    partitions = {t["name"]: int(t["partitions"]) for t in merged["topics"].values()}
    docs = render(values)
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in helpers.by_kind(docs, "ScaledObject")}
    for service, deployment in deployments(docs, helpers).items():
        consumed = [
            merged["topics"][key]["name"] for key in merged["services"][service]["consumes"]
        ]
        ceiling = max(partitions[topic] for topic in consumed)
        so = scaled.get(deployment["metadata"]["name"])
        if merged["autoscaling"]["enabled"]:
            assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
            assert so is not None, service
            assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= ceiling
            trigger_topics = [t["metadata"]["topic"] for t in so["spec"]["triggers"]]
            assert sorted(trigger_topics) == sorted(consumed), service
            assert so["spec"]["maxReplicaCount"] <= max(partitions[t] for t in trigger_topics)
        else:
            assert so is None
            assert deployment["spec"]["replicas"] <= ceiling, (name, service)


@pytest.mark.parametrize(
    ("values", "service"),
    [
        ({"services": {"records": {"replicas": 13}}}, "records"),
        (
            {
                "topics": {"records": {"partitions": 2}},
                "services": {"immunization": {"replicas": 3}},
            },
            "immunization",
        ),
        (
            {
                "autoscaling": {"enabled": True},
                "services": {"growth": {"autoscaling": {"maxReplicas": 24}}},
            },
            "growth",
        ),
        (
            {
                "autoscaling": {"enabled": True},
                "topics": {
                    "records": {"partitions": 4},
                    "immunization": {"partitions": 4},
                    "growth": {"partitions": 4},
                },
                "services": {
                    "immunization": {"autoscaling": {"maxReplicas": 4}},
                    "growth": {"autoscaling": {"maxReplicas": 4}},
                    "reporting": {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}},
                },
            },
            "reporting",
        ),
    ],
    ids=["records-replicas", "partitions-lowered", "growth-keda-max", "reporting-keda-max"],
)
def test_more_replicas_than_partitions_fail_the_render(
    chart: helm.Chart, values: dict[str, Any], service: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values=values, name="mch", namespace="mch")
    message = str(caught.value)
    assert f"services.{service}." in message
    assert "partitions" in message


def test_the_partition_check_lets_a_lower_count_through(render: Any) -> None:
    docs = render(
        {
            "topics": {"records": {"partitions": 2}},
            "services": {"immunization": {"replicas": 2}, "growth": {"replicas": 2}},
        }
    )
    assert docs


def test_consumer_settings_reach_the_service_and_bound_its_scaling(
    render: Any, helpers: Any
) -> None:
    values = {
        "autoscaling": {"enabled": True},
        "topics": {"facilityEvents": {"partitions": 8}},
        "services": {
            "records": {
                "consumer": {"batchSize": 1000, "concurrency": 2},
                "autoscaling": {"minReplicas": 2, "maxReplicas": 4},
            }
        },
    }
    docs = render(values)
    env = env_of(deployments(docs, helpers)["records"]["spec"]["template"]["spec"]["containers"][0])
    assert env["CONSUMER_BATCH_SIZE"]["value"] == "1000"
    assert env["CONSUMER_CONCURRENCY"]["value"] == "2"
    assert env["KAFKA_TOPIC_PARTITIONS"]["value"] == "8"
    (scaled,) = [
        d
        for d in helpers.by_kind(docs, "ScaledObject")
        if d["spec"]["scaleTargetRef"]["name"].endswith("records")
    ]
    assert scaled["spec"]["maxReplicaCount"] * 2 <= 8


@pytest.mark.parametrize(
    "values",
    [
        {"services": {"records": {"replicas": 7, "consumer": {"concurrency": 2}}}},
        {
            "autoscaling": {"enabled": True},
            "services": {
                "records": {"consumer": {"concurrency": 2}, "autoscaling": {"maxReplicas": 7}}
            },
        },
    ],
    ids=["replicas", "keda-max"],
)
def test_more_consumers_than_partitions_fail_the_render(
    chart: helm.Chart, values: dict[str, Any]
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values=values, name="mch", namespace="mch")
    assert "services.records." in str(caught.value)
    assert "consumer.concurrency" in str(caught.value)


@pytest.mark.parametrize(
    "values",
    [
        {"podSecurityContext": {"runAsUser": 0}},
        {"podSecurityContext": {"runAsNonRoot": False}},
        {"containerSecurityContext": {"allowPrivilegeEscalation": True}},
        {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
        {"containerSecurityContext": {"capabilities": {"drop": [], "add": ["NET_ADMIN"]}}},
        {"kafka": {"securityProtocol": "SASL"}},
        {"services": {"reporting": {"autoscaling": {"minReplicas": 0}}}},
        {"image": {"digest": "latest"}},
    ],
    ids=[
        "root-user",
        "root-allowed",
        "escalation",
        "writable-root",
        "capabilities",
        "protocol",
        "scale-to-zero",
        "digest",
    ],
)
def test_unsafe_values_are_refused_by_the_schema(chart: helm.Chart, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values=values, name="mch", namespace="mch")


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        (
            {
                "kafka": {"securityProtocol": "SASL_SSL"},
                "services": {"growth": {"kafka": {"sasl": {"existingSecret": ""}}}},
            },
            "services.growth.kafka.sasl.existingSecret",
        ),
        ({"services": {"records": {"consumes": ["nope"]}}}, "unknown topic key"),
        (
            {
                "autoscaling": {"enabled": True},
                "services": {"records": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}},
            },
            "minReplicas",
        ),
        ({"ingress": {"tls": {"enabled": True}}}, "ingress.tls.secretName"),
        ({"facilityClaims": {"required": True}}, "facilityClaims.keysSecret"),
    ],
    ids=[
        "sasl-without-secret",
        "unknown-topic",
        "min-above-max",
        "tls-without-secret",
        "claims-without-keys",
    ],
)
def test_inconsistent_values_fail_with_a_clear_message(
    chart: helm.Chart, values: dict[str, Any], needle: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values=values, name="mch", namespace="mch")
    assert needle in str(caught.value)


def test_keda_scales_each_service_on_its_consumer_lag(render: Any, helpers: Any) -> None:
    docs = render(helpers.production_values())
    merged_names = {d["metadata"]["name"] for d in helpers.by_kind(docs, "Deployment")}
    objects = helpers.by_kind(docs, "ScaledObject")
    auths = {d["metadata"]["name"]: d for d in helpers.by_kind(docs, "TriggerAuthentication")}
    assert len(objects) == 4
    for so in objects:
        assert so["spec"]["scaleTargetRef"]["name"] in merged_names
        for trigger in so["spec"]["triggers"]:
            meta = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert meta["consumerGroup"].startswith("mch-")
            assert meta["allowIdleConsumers"] == "false"
            assert meta["sasl"] == "scram_sha512"
            assert meta["tls"] == "enable"
            auth = auths[trigger["authenticationRef"]["name"]]
            params = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
            assert {"password", "ca"} <= params


def test_strimzi_resources(render: Any, helpers: Any, chart: helm.Chart) -> None:
    values = helpers.VARIANTS["strimzi"]
    docs = render(values)
    merged = chart.merge_values(values)
    (kafka,) = helpers.by_kind(docs, "Kafka")
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2
    assert config["default.replication.factor"] == 3
    assert config["unclean.leader.election.enable"] is False
    (pool,) = helpers.by_kind(docs, "KafkaNodePool")
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["spec"]["replicas"] == 3
    topics = {d["spec"]["topicName"]: d["spec"] for d in helpers.by_kind(docs, "KafkaTopic")}
    assert len(topics) == 5
    for topic in merged["topics"].values():
        spec = topics[topic["name"]]
        assert spec["partitions"] == topic["partitions"]
        assert spec["replicas"] == 3
        assert int(spec["config"]["retention.ms"]) == int(topic["retentionMs"])
        # No acknowledged write is lost short of losing two of three replicas.
        assert spec["config"]["min.insync.replicas"] == 2
        assert spec["config"]["unclean.leader.election.enable"] is False
    users = {d["metadata"]["name"]: d for d in helpers.by_kind(docs, "KafkaUser")}
    assert set(users) == {f"mch-{s}" for s in SERVICES}
    reporting_acls = users["mch-reporting"]["spec"]["authorization"]["acls"]
    writes = {a["resource"]["name"] for a in reporting_acls if "Write" in a["operations"]}
    assert writes == {"mch.dead-letters.v1"}, "reporting only reads, besides dead letters"
    # With Strimzi users, each service reads its password from the KafkaUser's Secret.
    for deployment in helpers.by_kind(docs, "Deployment"):
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        ref = env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] in users
        assert ref["key"] == "password"


def test_values_files_are_plain_yaml_without_secrets() -> None:
    for path in (CHART_DIR / "values.yaml", CHART_DIR / "values-production.yaml"):
        text = path.read_text(encoding="utf-8")
        yaml.safe_load(text)
        # Comments may show a URL's shape; values may not carry one.
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        assert not re.search(r"(?im)^\s*(password|token|secretValue)\s*:", text), path
        assert not re.search(r"://[^\s/]*@", text), f"{path}: credentials in a URL"


def test_strimzi_dedicated_controllers(render: Any, helpers: Any) -> None:
    docs = render({"strimzi": {"kafka": {"enabled": True, "dedicatedControllers": True}}})
    pools = {d["metadata"]["name"]: d["spec"] for d in helpers.by_kind(docs, "KafkaNodePool")}
    assert {name: spec["roles"] for name, spec in pools.items()} == {
        "mch-kafka-controllers": ["controller"],
        "mch-kafka-brokers": ["broker"],
    }
    assert pools["mch-kafka-controllers"]["replicas"] % 2 == 1
