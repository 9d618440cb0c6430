"""Deployment files for an endpoint: a Dockerfile, or Kubernetes manifests.

The files run ``loopml serve NAME``, which reads the endpoint's configuration
from the metadata store and follows later changes, so an image is built once
per loopml release, not once per configuration. Nothing secret is written:
the Dockerfile copies no files and carries only placeholder locations, and
the Deployment takes ``LOOPML_DATABASE_URL`` from a Secret reference. The
ConfigMap keeps the exported configuration beside the Deployment, as a
record of what was in force when the manifests were made.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidParameter
from loopml.serving.entities import EndpointVersion

PORT = 8080
LIVE_PATH = "/v2/health/live"
READY_PATH = "/v2/health/ready"
HOME = "/var/lib/loopml"
CONFIG_DIR = "/etc/loopml"
SCRATCH_DIR = "/tmp"  # noqa: S108  (an emptyDir of its own, for a read-only root)
STORE_SECRET = "loopml-store"  # noqa: S105  (the name of a Secret, not its value)
RUN_AS_UID = 10001
# Kubernetes object names: a Service name is a DNS-1035 label (starts with a letter),
# which also satisfies the DNS-1123 rules of every other kind written here.
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_LONGEST_SUFFIX = len("-config")
_NO_SPACE = re.compile(r"\S+")


def kubernetes_name(endpoint: str) -> str:
    """The DNS-safe name derived from ``endpoint``: lowercase, runs of other characters as ``-``.

    Raises:
        InvalidParameter: when no safe name of at most 56 characters that starts with a
            letter can be derived (the objects' names add suffixes up to 63).
    """
    name = re.sub(r"[^a-z0-9]+", "-", endpoint.lower()).strip("-")
    limit = 63 - _LONGEST_SUFFIX
    if _DNS_LABEL.fullmatch(name) is None or len(name) > limit:
        raise InvalidParameter(
            f"endpoint name {endpoint!r} gives the Kubernetes name {name!r}, which is not a "
            f"DNS label of at most {limit} characters starting with a letter"
        )
    return name


def _token(value: str, field: str) -> str:
    """A value written into a file as one word: no spaces or line breaks to inject with."""
    if _NO_SPACE.fullmatch(value) is None:
        raise InvalidParameter(f"{field} must be one word without spaces; got {value!r}")
    return value


def serve_command(version: EndpointVersion) -> list[str]:
    return ["loopml", "serve", version.name, "--host", "0.0.0.0", "--port", str(PORT)]


def _write(directory: Path, files: dict[str, str]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in files.items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


# --- Docker --------------------------------------------------------------------------


def export_docker(
    version: EndpointVersion,
    directory: str | Path,
    *,
    image_base: str = "python:3.11-slim",
    loopml_spec: str = "loopml",
) -> list[Path]:
    """Write a ``Dockerfile`` and ``.dockerignore`` that serve ``version``'s endpoint.

    Args:
        version: the endpoint version being exported (its name is what the image serves).
        directory: where to write; created if missing.
        image_base: the image to build on.
        loopml_spec: what ``pip install`` installs, e.g. ``loopml==0.4.0``.

    Returns:
        The files written.

    Raises:
        InvalidParameter: ``image_base`` or ``loopml_spec`` is not one word.
    """
    base = _token(image_base, "image_base")
    spec = shlex.quote(_token(loopml_spec, "loopml_spec"))
    return _write(
        Path(directory),
        {"Dockerfile": _dockerfile(version, base, spec), ".dockerignore": _DOCKERIGNORE},
    )


_DOCKERIGNORE = """\
# The image copies nothing from this folder (models come from the registry at start),
# so nothing here, secrets included, can end up in it.
*
"""

_HEALTHCHECK_PROBE = (
    "import urllib.request; "
    f"urllib.request.urlopen('http://127.0.0.1:{PORT}{LIVE_PATH}', timeout=2)"
)


def _dockerfile(version: EndpointVersion, base: str, spec: str) -> str:
    labels = {
        "org.opencontainers.image.title": f"loopml endpoint {version.name}",
        "loopml.endpoint": version.name,
        "loopml.endpoint.version": str(version.version),
    }
    label_line = " ".join(f"{key}={json.dumps(value)}" for key, value in labels.items())
    return f"""\
# syntax=docker/dockerfile:1
# Serves the loopml endpoint {version.name!r} (exported at configuration version {version.version}).
#
#   docker build -t IMAGE .
#   docker run -p {PORT}:{PORT} \\
#     -e LOOPML_DATABASE_URL=postgresql+psycopg://USER:PASSWORD@HOST:5432/loopml \\
#     -e LOOPML_ARTIFACT_ROOT=s3://BUCKET/loopml IMAGE
#
# The server reads the endpoint's current configuration from the metadata store and
# follows later changes, so the image needs no rebuild when the endpoint changes.
# LOOPML_DATABASE_URL and LOOPML_ARTIFACT_ROOT below are placeholders for an embedded
# store mounted at {HOME}: override both at run time (docker run -e, a Kubernetes
# Secret) and never bake credentials into the image.
FROM {base}
LABEL {label_line}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install {spec} \\
    && useradd --create-home --uid {RUN_AS_UID} loopml \\
    && mkdir -p {HOME} && chown {RUN_AS_UID} {HOME}
ENV LOOPML_HOME={HOME} \\
    LOOPML_DATABASE_URL=sqlite:///{HOME}/loopml.db \\
    LOOPML_ARTIFACT_ROOT={HOME}/artifacts
VOLUME {HOME}
USER {RUN_AS_UID}
WORKDIR /home/loopml
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \\
    CMD ["python", "-c", {json.dumps(_HEALTHCHECK_PROBE)}]
CMD {json.dumps(serve_command(version))}
"""


# --- Kubernetes -----------------------------------------------------------------------


def export_kubernetes(
    version: EndpointVersion,
    directory: str | Path,
    *,
    image: str,
    replicas: int = 2,
    namespace: str | None = None,
    store_secret: str = STORE_SECRET,
    max_replicas: int | None = None,
    cpu_target_percent: int = 70,
) -> list[Path]:
    """Write a ConfigMap, Deployment, Service and HorizontalPodAutoscaler for the endpoint.

    Args:
        version: the endpoint version being exported; its config goes into the ConfigMap.
        directory: where to write (one YAML file per object); created if missing.
        image: the image the Deployment runs (e.g. one built from :func:`export_docker`).
        replicas: pods to start with, and the autoscaler's minimum.
        namespace: set on every object when given.
        store_secret: the Secret holding ``database-url`` and ``artifact-root``.
        max_replicas: the autoscaler's maximum (default four times ``replicas``).
        cpu_target_percent: the average CPU use, of the request, the autoscaler aims at.

    Returns:
        The files written.

    Raises:
        InvalidParameter: a name that cannot be made DNS-safe, or a bad setting (named).
    """
    target = _Target(
        name=kubernetes_name(version.name),
        namespace=_label(namespace, "namespace") if namespace is not None else None,
        annotations={"loopml/endpoint": version.name, "loopml/version": str(version.version)},
    )
    _check_counts(replicas, max_replicas, cpu_target_percent)
    objects = {
        "configmap.yaml": _config_map(target, version),
        "deployment.yaml": _deployment(
            target, version, _token(image, "image"), replicas, _label(store_secret, "store_secret")
        ),
        "service.yaml": _service(target),
        "hpa.yaml": _autoscaler(target, replicas, max_replicas or replicas * 4, cpu_target_percent),
    }
    header = (
        f"# loopml endpoint {version.name!r}, exported at configuration version "
        f"{version.version}.\n# Apply this folder with: kubectl apply -f FOLDER\n"
    )
    notes = {"deployment.yaml": _STORE_NOTE.format(secret=store_secret)}
    return _write(
        Path(directory),
        {
            filename: header
            + notes.get(filename, "")
            + yaml.dump(body, Dumper=_Dumper, sort_keys=False)
            for filename, body in objects.items()
        },
    )


_STORE_NOTE = """\
# The metadata store's URL is read from a Secret, never written here; create it with
#   kubectl create secret generic {secret} \\
#     --from-literal=database-url=postgresql+psycopg://USER:PASSWORD@HOST:5432/loopml \\
#     --from-literal=artifact-root=s3://BUCKET/loopml
"""


class _Dumper(yaml.SafeDumper):
    """``yaml.safe_dump``'s dumper, writing text of several lines as a literal block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _label(value: str, field: str) -> str:
    if _DNS_LABEL.fullmatch(value) is None or len(value) > 63:
        raise InvalidParameter(
            f"{field} {value!r} must be a DNS label: lowercase letters, digits and '-', "
            "starting with a letter, at most 63 characters"
        )
    return value


def _check_counts(replicas: int, max_replicas: int | None, cpu_target_percent: int) -> None:
    if replicas < 1:
        raise InvalidParameter(f"replicas must be at least 1; got {replicas}")
    if max_replicas is not None and max_replicas < replicas:
        raise InvalidParameter(f"max_replicas ({max_replicas}) is below replicas ({replicas})")
    if not 1 <= cpu_target_percent <= 100:
        raise InvalidParameter(f"cpu_target_percent must be 1-100; got {cpu_target_percent}")


@dataclass(frozen=True)
class _Target:
    """The names and metadata every object of one export shares (copied into each object,
    so the YAML has no anchors)."""

    name: str
    namespace: str | None
    annotations: dict[str, str]

    @property
    def selector(self) -> dict[str, str]:
        return {
            "app.kubernetes.io/name": "loopml-endpoint",
            "app.kubernetes.io/instance": self.name,
        }

    def metadata(self, name: str | None = None) -> dict[str, Any]:
        found: dict[str, Any] = {"name": name or self.name}
        if self.namespace is not None:
            found["namespace"] = self.namespace
        found["labels"] = {**self.selector, "app.kubernetes.io/managed-by": "loopml"}
        found["annotations"] = dict(self.annotations)
        return found

    @property
    def config_map(self) -> str:
        return f"{self.name}-config"


def _config_map(target: _Target, version: EndpointVersion) -> dict[str, Any]:
    config = json.dumps(version.config.to_dict(), indent=2, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": target.metadata(target.config_map),
        "data": {"endpoint.json": config + "\n"},
    }


def _deployment(
    target: _Target, version: EndpointVersion, image: str, replicas: int, secret: str
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": target.metadata(),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": target.selector},
            "template": {
                "metadata": {"labels": target.selector, "annotations": dict(target.annotations)},
                "spec": _pod(target, version, image, secret),
            },
        },
    }


def _pod(target: _Target, version: EndpointVersion, image: str, secret: str) -> dict[str, Any]:
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS_UID, "fsGroup": RUN_AS_UID},
        "terminationGracePeriodSeconds": 30,  # time to flush the prediction log
        "containers": [_container(version, image, secret)],
        "volumes": [
            {"name": "endpoint-config", "configMap": {"name": target.config_map}},
            {"name": "loopml-home", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def _probe(path: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": PORT},
        "periodSeconds": period_s,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _container(version: EndpointVersion, image: str, secret: str) -> dict[str, Any]:
    return {
        "name": "loopml",
        "image": image,
        "command": serve_command(version),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [
            {"name": "LOOPML_HOME", "value": HOME},
            _secret_env("LOOPML_DATABASE_URL", secret, "database-url"),
            _secret_env("LOOPML_ARTIFACT_ROOT", secret, "artifact-root"),
        ],
        "startupProbe": _probe(LIVE_PATH, 5, 60),  # loading and warming the models
        "readinessProbe": _probe(READY_PATH, 5, 3),
        "livenessProbe": _probe(LIVE_PATH, 10, 3),
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "2Gi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "endpoint-config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "loopml-home", "mountPath": HOME},
            {"name": "tmp", "mountPath": SCRATCH_DIR},
        ],
    }


def _secret_env(variable: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _service(target: _Target) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": target.metadata(),
        "spec": {
            "type": "ClusterIP",
            "selector": target.selector,
            "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}],
        },
    }


def _autoscaler(target: _Target, low: int, high: int, cpu_percent: int) -> dict[str, Any]:
    utilization = {"type": "Utilization", "averageUtilization": cpu_percent}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": target.metadata(),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": utilization}}],
        },
    }
