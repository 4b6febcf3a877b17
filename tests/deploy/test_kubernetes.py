"""deploy/kubernetes: the manifests parse, and hold what running one SQLite-backed daemon needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.deploy.conftest import DEPLOY, is_daemon_variable
from tests.deploy.test_container import instructions as dockerfile_instructions

FOLDER = DEPLOY / "kubernetes"


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
