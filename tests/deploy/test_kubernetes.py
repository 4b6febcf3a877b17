"""deploy/kubernetes: the manifests parse, and hold what running one SQLite-backed daemon needs.

deploy/kubernetes-postgresql, the overlay for several replicas on PostgreSQL, is
checked as ``kubectl kustomize`` builds it (offline), each object against the
Kubernetes API schema (kubernetes-validate) where one exists.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from tests.deploy.conftest import DEPLOY, is_daemon_variable
from tests.deploy.test_container import instructions as dockerfile_instructions

FOLDER = DEPLOY / "kubernetes"
OVERLAY = DEPLOY / "kubernetes-postgresql"


def documents() -> list[Any]:
    found = []
    for path in sorted(FOLDER.glob("*.yaml")):
        found += [d for d in YAML(typ="safe").load_all(path.read_text(encoding="utf-8")) if d]
    return found


def one(kind: str, name: str | None = None) -> Any:
    matches = [
        d
        for d in documents()
        if d["kind"] == kind and name in (None, d.get("metadata", {}).get("name"))
    ]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def container() -> Any:
    return one("Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_the_kustomization_lists_every_manifest_of_the_folder() -> None:
    listed = set(one("Kustomization")["resources"])
    files = {p.name for p in FOLDER.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_every_kind_is_there() -> None:
    kinds = {d["kind"] for d in documents()}
    assert kinds >= {
        "Deployment",
        "PersistentVolumeClaim",
        "Secret",
        "ConfigMap",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "Kustomization",
    }
    assert one("ServiceMonitor")["apiVersion"] == "monitoring.coreos.com/v1"


def test_the_prometheus_rule_carries_exactly_the_rules_of_alerts_yaml() -> None:
    alerts = YAML(typ="safe").load((DEPLOY / "prometheus" / "alerts.yaml").read_text("utf-8"))
    rule = one("PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == alerts["groups"], (
        "regenerate prometheusrule.yaml as its header says"
    )


def test_one_replica_recreated_so_two_daemons_never_share_the_sqlite_state() -> None:
    spec = one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert one("PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteOnce"]


def test_probes_check_healthz_for_liveness_and_readyz_for_readiness() -> None:
    c = container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_port_9108_is_served_published_and_scraped() -> None:
    c = container()
    assert [p["containerPort"] for p in c["ports"]] == [9108]
    settings = one("ConfigMap")["data"]
    assert settings["RECONCILER_LISTEN"].endswith(":9108")
    service = one("Service")["spec"]
    assert [p["port"] for p in service["ports"]] == [9108]
    endpoint = one("ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["port"] == service["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


def test_the_pod_runs_as_non_root_on_a_read_only_root_with_writable_state_and_reports() -> None:
    deployment = one("Deployment")["spec"]["template"]["spec"]
    assert deployment["securityContext"]["runAsNonRoot"] is True
    c = container()
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    settings = one("ConfigMap")["data"]
    writable = [p for p, m in mounts.items() if not m.get("readOnly")]

    def on_a_writable_volume(path: str) -> bool:
        return any(Path(path).is_relative_to(w) for w in writable)

    assert on_a_writable_volume(settings["RECONCILER_STATE"])
    assert on_a_writable_volume(settings["RECONCILER_REPORT_DIR"])
    volumes = {v["name"]: v for v in deployment["volumes"]}
    state = next(
        m
        for m in c["volumeMounts"]
        if Path(settings["RECONCILER_STATE"]).is_relative_to(m["mountPath"])
    )
    claim = volumes[state["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim == one("PersistentVolumeClaim")["metadata"]["name"]
    secrets = next(
        m for m in c["volumeMounts"] if m["mountPath"] == settings["RECONCILER_SECRETS_DIR"]
    )
    assert secrets["readOnly"] is True
    assert "secret" in volumes[secrets["name"]]


def test_settings_come_from_the_configmap_and_the_secret_and_every_name_is_one_the_daemon_reads() -> (
    None
):
    sources = container()["envFrom"]
    assert {"configMapRef", "secretRef"} == {key for s in sources for key in s}
    tokens = one("Secret", "reconciler-tokens")["stringData"]
    assert set(tokens) == {"RECONCILER_HEADEND_TOKEN", "RECONCILER_ADMIN_TOKEN"}
    names = set(one("ConfigMap")["data"]) | set(tokens)
    assert all(is_daemon_variable(n) for n in names), sorted(
        n for n in names if not is_daemon_variable(n)
    )
    assert {"RECONCILER_REPO", "RECONCILER_HEADEND_URL", "RECONCILER_STATE"} <= names


def test_every_secret_value_is_a_marked_placeholder() -> None:
    for secret in (d for d in documents() if d["kind"] == "Secret"):
        for key, value in secret["stringData"].items():
            assert value.startswith("PLACEHOLDER"), f"{secret['metadata']['name']}.{key}"


def test_resources_are_requested_and_limited() -> None:
    resources = container()["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) >= {"memory"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_the_folder() -> None:
    done = subprocess.run(
        ["kubectl", "kustomize", str(FOLDER)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    built = [d for d in YAML(typ="safe").load_all(done.stdout) if d]
    assert all(
        d["metadata"].get("namespace") == "lg2wan-reconciler"
        for d in built
        if d["kind"] != "Namespace"
    )


def test_the_daemon_owns_its_clone_of_the_repository_so_git_never_refuses_it() -> None:
    # git refuses a repository another user owns ("dubious ownership"). The pod runs as
    # the image's user; the daemon clones a URL into git-cache/ on the state volume as
    # that user. A local path (a volume another uid fills) must be a safe.directory.
    pod = one("Deployment")["spec"]["template"]["spec"]
    user = next(rest for word, rest in reversed(dockerfile_instructions()) if word == "USER").split(
        ":"
    )
    context = pod["securityContext"]
    assert context["runAsUser"] == int(user[0])
    assert context["runAsGroup"] == context["fsGroup"] == int(user[1])
    assert container()["securityContext"].get("runAsUser", context["runAsUser"]) == int(user[0])
    repo = one("ConfigMap")["data"]["RECONCILER_REPO"]
    if "://" not in repo:
        env = {e["name"]: e.get("value") for e in container().get("env", [])}
        assert env.get("GIT_CONFIG_KEY_0") == "safe.directory"
        assert env.get("GIT_CONFIG_VALUE_0") == repo


# --- deploy/kubernetes-postgresql: several replicas on PostgreSQL ---------------------------

KUBERNETES_VERSION = "1.30"
"""The oldest Kubernetes the manifests are checked against (topologySpreadConstraints, policy/v1)."""


def kustomize(folder: Path) -> list[Any]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [d for d in YAML(typ="safe").load_all(done.stdout) if d]


@cache
def overlay() -> list[Any]:
    return kustomize(OVERLAY)


def built(kind: str, name: str | None = None) -> Any:
    matches = [d for d in overlay() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_spec() -> Any:
    return built("Deployment")["spec"]["template"]["spec"]


def overlay_container() -> Any:
    (c,) = pod_spec()["containers"]
    return c


def overlay_env() -> dict[str, Any]:
    return {e["name"]: e for e in overlay_container().get("env", [])}


def test_the_overlay_builds_offline_into_one_namespace_and_every_object_is_valid() -> None:
    objects = overlay()
    assert all(
        d["metadata"].get("namespace") == "lg2wan-reconciler"
        for d in objects
        if d["kind"] != "Namespace"
    )
    for d in objects:
        if d["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # the Prometheus Operator's kinds: no schema in kubernetes-validate
        kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)


def test_the_overlay_runs_three_replicas_replaced_one_at_a_time() -> None:
    spec = built("Deployment")["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }


def test_the_replicas_spread_over_nodes_without_blocking_a_small_cluster() -> None:
    (spread,) = pod_spec()["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    labels = built("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()


def test_the_disruption_budget_selects_the_daemons_pods_and_keeps_two_running() -> None:
    budget = built("PodDisruptionBudget")
    deployment = built("Deployment")
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    selector = budget["spec"]["selector"]
    assert set(selector) == {"matchLabels"}
    assert selector["matchLabels"]
    assert (
        selector["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    assert selector == deployment["spec"]["selector"]
    spec = budget["spec"]
    assert spec.get("minAvailable") == 2 or spec.get("maxUnavailable") == 1
    replicas = deployment["spec"]["replicas"]
    assert replicas - spec.get("maxUnavailable", replicas - spec.get("minAvailable", 0)) >= 2


def test_the_overlay_has_no_state_volume_and_the_base_keeps_its_own() -> None:
    assert not [d for d in overlay() if d["kind"] == "PersistentVolumeClaim"]
    volumes = pod_spec()["volumes"]
    assert not [v for v in volumes if "persistentVolumeClaim" in v]
    mounted = {m["name"] for m in overlay_container()["volumeMounts"]}
    assert mounted <= {v["name"] for v in volumes}
    assert "/var/lib/reconciler" not in {
        m["mountPath"] for m in overlay_container()["volumeMounts"]
    }
    base = kustomize(FOLDER)
    assert [d["spec"]["replicas"] for d in base if d["kind"] == "Deployment"] == [1]
    assert [d for d in base if d["kind"] == "PersistentVolumeClaim"]


def test_the_state_is_a_postgresql_url_without_a_password_and_libpq_reads_it_from_a_secret() -> (
    None
):
    settings = built("ConfigMap", "reconciler-settings")["data"]
    url = urlsplit(settings["RECONCILER_STATE"])
    assert url.scheme == "postgresql"
    assert url.username and url.hostname and url.port == 5432 and url.path.strip("/")
    assert url.password is None
    assert "sslmode=require" in url.query
    password = overlay_env()["PGPASSWORD"]
    assert "value" not in password
    assert password["valueFrom"]["secretKeyRef"] == {
        "name": "reconciler-postgresql",
        "key": "password",
    }
    assert "password" in built("Secret", "reconciler-postgresql")["stringData"]


def test_every_replica_reads_the_same_state_key_from_a_read_only_secret() -> None:
    key_file = Path(overlay_env()["RECONCILER_STATE_KEY_FILE"]["value"])
    mount = next(
        m for m in overlay_container()["volumeMounts"] if key_file.parent == Path(m["mountPath"])
    )
    assert mount["readOnly"] is True
    volume = next(v for v in pod_spec()["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "reconciler-state-key"
    assert volume["secret"].get("optional") is not True  # no key, no start: never a key per pod
    # The key is created once with kubectl or a secret store, never kept in the manifests.
    assert not [
        d
        for d in overlay()
        if d["kind"] == "Secret" and d["metadata"]["name"] == "reconciler-state-key"
    ]


def test_the_cache_is_an_empty_dir_and_each_replica_is_named_after_its_pod() -> None:
    cache_dir = Path(overlay_env()["RECONCILER_CACHE_DIR"]["value"])
    mount = next(
        m for m in overlay_container()["volumeMounts"] if cache_dir.is_relative_to(m["mountPath"])
    )
    assert not mount.get("readOnly")
    volume = next(v for v in pod_spec()["volumes"] if v["name"] == mount["name"])
    assert "emptyDir" in volume
    name = overlay_env()["RECONCILER_REPLICA_NAME"]
    assert name["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_the_overlay_names_only_variables_the_daemon_reads_or_libpq_does() -> None:
    names = set(built("ConfigMap", "reconciler-settings")["data"]) | set(overlay_env())
    names |= set(built("Secret", "reconciler-tokens")["stringData"])
    assert {
        "RECONCILER_STATE",
        "RECONCILER_STATE_KEY_FILE",
        "RECONCILER_CACHE_DIR",
        "RECONCILER_REPLICA_NAME",
        "RECONCILER_LEASE_TERM",
        "PGPASSWORD",
    } <= names
    ours = {n for n in names if n.startswith("RECONCILER_")}
    assert all(is_daemon_variable(n) for n in ours), sorted(
        n for n in ours if not is_daemon_variable(n)
    )
    assert names - ours <= {"HOME", "PGPASSWORD"}


def test_the_overlay_holds_no_plain_secret_value() -> None:
    for secret in (d for d in overlay() if d["kind"] == "Secret"):
        assert "data" not in secret, secret["metadata"]["name"]
        for key, value in secret["stringData"].items():
            assert value.startswith("PLACEHOLDER"), f"{secret['metadata']['name']}.{key}"
    settings = built("ConfigMap", "reconciler-settings")["data"]
    assert not any("PGPASSWORD" in v or "password" in v.lower() for v in settings.values())
    for variable in overlay_container().get("env", []):
        assert "value" not in variable or not variable["name"].startswith("PG"), variable


def test_the_overlay_keeps_the_base_probes_security_and_monitoring() -> None:
    c = overlay_container()
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"  # 200 on followers too
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod_spec()["securityContext"]["runAsNonRoot"] is True
    assert built("PrometheusRule")["spec"] == one("PrometheusRule")["spec"]
    assert built("ServiceMonitor")["spec"] == one("ServiceMonitor")["spec"]
