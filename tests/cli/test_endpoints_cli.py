"""``loopml endpoints ...`` as a user types it, on an embedded store in a temp dir."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from loopml.auth.audit import AuditFilter
from loopml.client import Client
from loopml.models import infer_signature, save_model

runner = CliRunner()
CHAMPION = "models:/iris@champion"
CANDIDATE = "models:/iris/2"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    """The store the commands open, with iris v1 (@champion) and v2 registered."""
    with Client(str(home / "home")) as opened:
        frame = load_iris(as_frame=True).frame
        features = frame.drop(columns="target")
        run_id = opened.create_run("0").info.run_id
        for c in (1.0, 0.1):
            model = LogisticRegression(C=c, max_iter=300).fit(features, frame["target"])
            folder = home / f"model-{c}"
            save_model(model, folder, signature=infer_signature(features, model.predict(features)))
            opened.log_artifact(run_id, folder, f"model-{c}")
        opened.registry.create_registered_model("iris")
        for c in (1.0, 0.1):
            opened.registry.create_model_version("iris", f"runs:/{run_id}/model-{c}")
        opened.registry.set_alias("iris", "champion", 1)
        yield opened


def said(result: Any) -> str:
    """The output with Rich's line wrapping and table borders undone."""
    text = re.sub(r"[\u2500-\u257f]", " ", result.output)
    return " ".join(text.split())


def invoke(*args: str) -> Any:
    from loopml.cli.main import app

    return runner.invoke(app, ["endpoints", *args])


def ok(*args: str) -> Any:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def shown(name: str = "churn") -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok("show", name, "--json").output)
    return found


def weights(name: str = "churn") -> dict[str, tuple[str, float]]:
    return {r["name"]: (r["model"], r["weight"]) for r in shown(name)["config"]["routes"]}


def versions(name: str = "churn") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(ok("history", name, "--json").output)
    return found


def create_canary() -> None:
    ok(
        "create", "churn", "--model", CHAMPION, "--canary", CANDIDATE, "--canary-weight", "10",
        "--comment", "canary v2",
    )  # fmt: skip


def test_create_with_a_canary_and_show_it(client: Client) -> None:
    create_canary()
    current = shown()
    assert current["version"] == 1
    assert weights() == {"primary": (CHAMPION, 90.0), "canary": (CANDIDATE, 10.0)}
    assert current["traffic_percent"] == {"primary": 90.0, "canary": 10.0}
    assert current["config"]["max_batch_size"] == 64
    text = said(ok("show", "churn"))
    assert "endpoint churn, version 1" in text
    assert f"primary 90% 90.0 {CHAMPION}" in text
    assert f"canary 10% 10.0 {CANDIDATE}" in text
    assert "shadows: none" in text
    assert "canary v2" in text
    listed = json.loads(ok("list", "--json").output)
    assert [(e["name"], e["version"]) for e in listed] == [("churn", 1)]
    assert f"primary 90% {CHAMPION} canary 10% {CANDIDATE}" in said(ok("list"))


def test_every_option_of_create(client: Client) -> None:
    made = ok(
        "create", "ab", "--route", f"a={CHAMPION}:3", "--route", f"b={CANDIDATE}:1",
        "--shadow", f"next={CANDIDATE}", "--sticky", "header:X-User-Id",
        "--max-batch-size", "8", "--max-batch-delay-ms", "2.5", "--json",
    )  # fmt: skip
    assert json.loads(made.output)["traffic_percent"] == {"a": 75.0, "b": 25.0}
    config = shown("ab")["config"]
    assert config["shadows"] == [{"name": "next", "model": CANDIDATE, "weight": 0.0}]
    assert (config["sticky"], config["max_batch_size"], config["max_batch_delay_ms"]) == (
        "header:X-User-Id",
        8,
        2.5,
    )
    text = said(ok("show", "ab"))
    assert "sticky: header:X-User-Id" in text
    assert "up to 8 requests per call" in text
    assert f"next {CANDIDATE}" in text
    ok("create", "even", "--route", f"a={CHAMPION}", "--route", f"b={CANDIDATE}")
    assert shown("even")["traffic_percent"] == {"a": 50.0, "b": 50.0}


def test_config_files_in_yaml_and_json(client: Client, home: Path) -> None:
    config = {
        "routes": [{"name": "primary", "model": CHAMPION, "weight": 80}],
        "shadows": [{"name": "shadow", "model": CANDIDATE}],
        "sticky": "parameter:user_id",
        "max_batch_size": 16,
    }
    (home / "endpoint.yaml").write_text(yaml.safe_dump(config))
    ok("create", "from-yaml", "--config", str(home / "endpoint.yaml"))
    written = shown("from-yaml")
    assert written["config"]["sticky"] == "parameter:user_id"
    assert written["traffic_percent"] == {"primary": 100.0}
    (home / "shown.json").write_text(json.dumps(written))  # `show --json` reads back
    ok("create", "from-json", "--config", str(home / "shown.json"))
    assert shown("from-json")["config"] == written["config"]
    both = invoke("create", "x", "--config", str(home / "shown.json"), "--model", CHAMPION)
    assert both.exit_code == 1
    assert "--config holds the whole configuration; leave out --model" in said(both)
    (home / "bad.yaml").write_text("routes: [unclosed")
    bad = invoke("create", "x", "--config", str(home / "bad.yaml"))
    assert bad.exit_code == 1
    assert "is not valid JSON or YAML" in said(bad)


def test_update_canary_weight_promote_history_and_rollback(client: Client) -> None:
    create_canary()
    ok("update", "churn", "--canary-weight", "25", "--comment", "more traffic")
    assert weights() == {"primary": (CHAMPION, 75.0), "canary": (CANDIDATE, 25.0)}
    promoted = ok("update", "churn", "--promote-canary", "--comment", "v2 wins")
    assert f"version 3: primary 100% {CANDIDATE}" in said(promoted)
    assert weights() == {"primary": (CANDIDATE, 100.0)}

    history = versions()
    assert [(v["version"], v["comment"], v["current"]) for v in history] == [
        (1, "canary v2", False),
        (2, "more traffic", False),
        (3, "v2 wins", True),
    ]
    assert {v["created_by"] for v in history} == {client.auth.whoami()["name"]}
    table = said(ok("history", "churn"))
    assert "History of endpoint churn" in table
    assert "more traffic" in table
    assert f"primary 75% {CHAMPION} canary 25% {CANDIDATE}" in table

    back = said(ok("rollback", "churn"))
    assert "version 4 is now in force (rollback to version 2)" in back
    assert f"serving primary 75% {CHAMPION}, canary 25% {CANDIDATE}" in back
    assert weights() == {"primary": (CHAMPION, 75.0), "canary": (CANDIDATE, 25.0)}
    # Rolling back again undoes the rollback (the version before 4 is 3), as
    # `kubectl rollout undo` does; the history keeps every step in order.
    again = json.loads(ok("rollback", "churn", "--json").output)
    assert (again["version"], again["comment"]) == (5, "rollback to version 3")
    assert weights() == {"primary": (CANDIDATE, 100.0)}
    assert [v["version"] for v in versions()] == [1, 2, 3, 4, 5]


def test_full_update_replaces_the_whole_configuration(client: Client) -> None:
    ok("create", "churn", "--model", CHAMPION, "--sticky", "header:X-User", "--max-batch-size", "4")
    ok("update", "churn", "--model", CANDIDATE, "--shadow", f"old={CHAMPION}")
    config = shown()["config"]
    assert config["routes"] == [{"name": "primary", "model": CANDIDATE, "weight": 100.0}]
    assert config["shadows"] == [{"name": "old", "model": CHAMPION, "weight": 0.0}]
    assert (config["sticky"], config["max_batch_size"]) == (None, 64)


def test_the_audit_log_has_every_change(client: Client) -> None:
    create_canary()
    ok("update", "churn", "--canary-weight", "50")
    ok("rollback", "churn")
    events = client.auth.audit_events(AuditFilter(resource_kind="endpoint"))
    assert sorted(e.action for e in events) == [
        "endpoint.create",
        "endpoint.rollback",
        "endpoint.update",
    ]
    assert {e.resource_id for e in events} == {"churn"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "iris"], "model must be a models:/NAME@ALIAS or models:/NAME/N URI"),
        (["--model", "models:/nope@champion"], "route 'primary': "),
        (["--model", CHAMPION, "--canary", "models:/iris/9"], "route 'canary': "),
        (["--model", CHAMPION, "--sticky", "cookie:user"], "must be header:NAME or parameter:NAME"),
        (["--model", CHAMPION, "--sticky", "header:"], "must be header:NAME or parameter:NAME"),
        (
            ["--model", CHAMPION, "--canary", CANDIDATE, "--canary-weight", "0"],
            "--canary-weight must be more than 0 and less than 100; got 0",
        ),
        (
            ["--route", f"a={CHAMPION}:0", "--route", f"b={CANDIDATE}:0"],
            "weights must be >= 0 and add up to more than 0",
        ),
        (["--route", f"a={CHAMPION}:x"], "weight 'x' is not a number"),
        (["--route", f"a={CHAMPION}:-5"], "weights must be >= 0"),
        (["--model", CHAMPION, "--route", f"primary={CANDIDATE}"], "'primary' is used twice"),
        (
            ["--route", f"a={CHAMPION}", "--shadow", f"a={CANDIDATE}"],
            "route name 'a' is used twice",
        ),
        (["--route", "a"], "--route 'a' must be NAME=MODEL_URI"),
        (["--canary", CANDIDATE], "--canary needs --model"),
        ([], "give --model, --route or --config"),
        (["--model", CHAMPION, "--max-batch-size", "0"], "max_batch_size must be between"),
    ],
)
def test_bad_configurations_change_nothing(client: Client, args: list[str], message: str) -> None:
    create_canary()
    for command in ("create", "update"):
        name = "new" if command == "create" else "churn"
        result = invoke(command, name, *args)
        assert result.exit_code == 1, result.output
        assert "error:" in said(result)
        assert message in said(result)
        assert "Traceback" not in result.output
    assert [e["name"] for e in json.loads(ok("list", "--json").output)] == ["churn"]
    assert [v["version"] for v in versions()] == [1]


def test_refusals_of_update_and_rollback(client: Client) -> None:
    ok("create", "plain", "--model", CHAMPION)
    cases = [
        (["update", "plain", "--canary-weight", "20"], "has no 'primary' and 'canary' routes"),
        (["update", "plain", "--promote-canary"], "has no 'primary' and 'canary' routes"),
        (
            ["update", "plain", "--promote-canary", "--model", CANDIDATE],
            "--promote-canary takes no other configuration options",
        ),
        (["update", "plain", "--canary-weight", "20", "--sticky", "header:U"], "needs --canary"),
        (["update", "plain", "--canary-weight", "100"], "use --promote-canary"),
        (["rollback", "plain"], "has no earlier configuration to roll back to"),
        (["create", "plain", "--model", CHAMPION], "endpoint 'plain' already exists"),
        (["create", "bad name", "--model", CHAMPION], "endpoint name 'bad name' must be"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert (result.exit_code, message in said(result)) == (1, True), (args, result.output)
    assert [v["version"] for v in versions("plain")] == [1]


@pytest.mark.parametrize(
    "args",
    [
        ["show", "ghost"],
        ["history", "ghost"],
        ["rollback", "ghost"],
        ["update", "ghost", "--model", CHAMPION],
        ["update", "ghost", "--canary-weight", "5"],
        ["export", "ghost", "--output", "out"],
    ],
)
def test_an_unknown_endpoint_is_not_found(client: Client, args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 3, result.output  # the CLI's "not found" code
    assert "error: no endpoint named 'ghost'" in said(result)
    assert json.loads(ok("list", "--json").output) == []


def test_a_server_uri_is_refused_for_now(home: Path) -> None:
    result = invoke("list", "--uri", "http://127.0.0.1:5000")
    assert result.exit_code == 1
    assert "remote endpoints management is not available yet" in said(result)


def test_export_docker_and_kubernetes(client: Client, home: Path) -> None:
    create_canary()
    docker = home / "docker"
    made = said(ok("export", "churn", "--format", "docker", "--output", str(docker)))
    assert "exported endpoint churn version 1" in made
    assert f"docker build -t loopml-churn:latest {docker}" in made
    assert sorted(p.name for p in docker.iterdir()) == [".dockerignore", "Dockerfile"]
    cmd = [line for line in (docker / "Dockerfile").read_text().splitlines() if line[:4] == "CMD "]
    assert json.loads(cmd[0][4:]) == [
        "loopml", "serve", "churn", "--host", "0.0.0.0", "--port", "8080",
    ]  # fmt: skip

    cluster = home / "k8s"
    found = json.loads(
        ok(
            "export", "churn", "--format", "kubernetes", "--output", str(cluster),
            "--image", "registry.example/churn:1", "--replicas", "3", "--namespace", "ml",
            "--json",
        ).output
    )  # fmt: skip
    assert (found["version"], found["image"]) == (1, "registry.example/churn:1")
    documents = [d for f in found["files"] for d in yaml.safe_load_all(Path(f).read_text())]
    kinds = {d["kind"]: d for d in documents}
    assert set(kinds) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"}
    assert {d["metadata"]["namespace"] for d in documents} == {"ml"}
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/churn:1"
    )
    endpoint_json = json.loads(kinds["ConfigMap"]["data"]["endpoint.json"])
    assert endpoint_json == shown()["config"]
    bad = invoke(
        "export", "churn", "--format", "kubernetes", "-o", str(cluster), "--namespace", "M L"
    )
    assert bad.exit_code == 1
    assert "namespace 'M L' must be a DNS label" in said(bad)
