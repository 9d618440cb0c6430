"""Accounts, tokens, permissions and the audit log from the command line, embedded.

Embedded, the CLI acts as the local OS user, who owns the database file and so
is an admin: that is how the first admin account is made. The audit-verify
tests tamper with the real history through raw SQL, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from loopml.auth import AuthService
from loopml.cli.main import app
from loopml.client import Client
from loopml.core.errors import Unauthenticated
from loopml.store.database import Database

runner = CliRunner()
PASSWORD = "correct horse battery"
SECRET = re.compile(r"lml_[0-9a-f]{32}_[0-9a-f]{64}")


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its lowest cost: these tests exercise the CLI, not the hash's price."""
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr("loopml.auth.passwords._hasher", hasher)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")  # tables unfolded, so ids read whole
    for name in ("LOOPML_TRACKING_URI", "LOOPML_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def cli(*args: str, stdin: str | None = None, code: int = 0) -> Result:
    result = runner.invoke(app, list(args), input=stdin)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def make_admin(name: str = "admin") -> None:
    cli("users", "create", name, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")


def database_url(home: Path) -> str:
    return f"sqlite:///{home / 'loopml.db'}"


def service(url: str) -> AuthService:
    return AuthService(Database(url))


# --- accounts -------------------------------------------------------------------------


def test_whoami_embedded_is_the_local_os_user_as_admin(home: Path) -> None:
    me = cli_json("whoami")
    assert me["name"].startswith("local:")
    assert me["role"] == "admin"
    assert "admin" in cli("whoami").output


def test_users_create_list_show_update_delete(home: Path) -> None:
    make_admin()
    created = cli(
        "users", "create", "alice", "--role", "editor", "--description", "data science",
        "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert "created user alice (role editor)" in created.output
    listed = cli_json("users", "list")
    assert [(u["name"], u["role"]) for u in listed] == [("admin", "admin"), ("alice", "editor")]
    assert "password" not in json.dumps(listed)
    assert cli_json("users", "show", "alice")["description"] == "data science"
    cli("users", "update", "alice", "--role", "viewer", "--disable")
    shown = cli_json("users", "show", "alice")
    assert (shown["role"], shown["disabled"]) == ("viewer", True)
    assert "active" in cli("users", "update", "alice", "--enable").output
    cli("users", "update", "alice", code=2)  # nothing to change is a usage error
    kept = cli("users", "delete", "alice", stdin="n\n", code=1)
    assert "Delete user 'alice'" in kept.output
    assert cli_json("users", "show", "alice")["name"] == "alice"
    cli("users", "delete", "alice", "--yes")
    assert "no account named 'alice'" in cli("users", "show", "alice", code=3).output


def test_password_is_prompted_twice_hidden(home: Path) -> None:
    result = cli("users", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    service(database_url(home)).authenticate_password("bob", PASSWORD)


def test_mismatched_confirmation_creates_nothing(home: Path) -> None:
    cli("users", "create", "bob", stdin=f"{PASSWORD}\n{PASSWORD}!\n", code=1)
    assert cli_json("users", "list") == []


def test_too_short_password_is_one_clear_error_and_creates_nothing(home: Path) -> None:
    result = cli("users", "create", "bob", "--password-stdin", stdin="short\n", code=1)
    assert result.output.strip() == "error: password must be at least 12 characters; got 5"
    assert cli_json("users", "list") == []
    empty = cli("users", "create", "bob", "--password-stdin", stdin="", code=1)
    assert "no password on stdin" in empty.output


def test_passwd_reads_current_then_new_and_keeps_the_rules(home: Path) -> None:
    make_admin()
    new = "a brand new passphrase"
    cli("users", "passwd", "admin", "--current", "--password-stdin", stdin=f"{PASSWORD}\n{new}\n")
    auth = service(database_url(home))
    auth.authenticate_password("admin", new)
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        auth.authenticate_password("admin", PASSWORD)
    short = cli("users", "passwd", "admin", "--password-stdin", stdin="tiny\n", code=1)
    assert "at least 12 characters" in short.output


def test_the_last_admin_cannot_be_demoted_disabled_or_deleted(home: Path) -> None:
    make_admin()
    for args in (["update", "admin", "--role", "viewer"], ["update", "admin", "--disable"]):
        result = cli("users", *args, code=1)
        assert "'admin' is the last active admin; make another admin first" in result.output
    assert "last active admin" in cli("users", "delete", "admin", "--yes", code=1).output
    make_admin("root2")
    cli("users", "update", "admin", "--role", "viewer")


def test_service_accounts_have_no_password_and_their_own_commands(home: Path) -> None:
    created = cli("service-accounts", "create", "ci-bot", "--role", "editor")
    assert "loopml tokens create NAME --for ci-bot" in created.output
    make_admin()
    assert [a["name"] for a in cli_json("service-accounts", "list")] == ["ci-bot"]
    assert [a["name"] for a in cli_json("users", "list")] == ["admin"]
    wrong = cli("users", "delete", "ci-bot", "--yes", code=1)
    assert "use `loopml service-accounts delete`" in wrong.output
    cli("service-accounts", "delete", "ci-bot", "--yes")
    assert cli_json("service-accounts", "list") == []


# --- tokens ---------------------------------------------------------------------------


def test_token_secret_is_shown_once_and_never_listed(home: Path) -> None:
    cli("service-accounts", "create", "ci-bot", "--role", "editor")
    created = cli("tokens", "create", "deploy", "--for", "ci-bot", "--scope", "write")
    secrets = SECRET.findall(created.output)
    assert len(secrets) == 1
    assert "cannot be shown again" in created.output
    assert "export LOOPML_TRACKING_TOKEN=" in created.output
    assert "MLFLOW_TRACKING_TOKEN" in created.output
    actor = service(database_url(home)).authenticate_token(secrets[0])
    assert (actor.name, actor.scope) == ("ci-bot", "write")

    listed_text = cli("tokens", "list", "--for", "ci-bot").output
    listed = cli_json("tokens", "list", "--all")
    secret_part = secrets[0].rsplit("_", 1)[1]
    assert secret_part not in listed_text
    assert secret_part not in json.dumps(listed)
    assert [(t["name"], t["principal_name"], t["scope"], t["state"]) for t in listed] == [
        ("deploy", "ci-bot", "write", "active")
    ]
    token_id = listed[0]["token_id"]
    assert token_id in listed_text
    assert secrets[0].startswith(f"lml_{token_id}_")

    assert "revoked token deploy" in cli("tokens", "revoke", token_id).output
    assert cli_json("tokens", "list", "--for", "ci-bot")[0]["state"] == "revoked"
    with pytest.raises(Unauthenticated, match="is revoked"):
        service(database_url(home)).authenticate_token(secrets[0])


def test_token_json_carries_the_secret_and_expiry(home: Path) -> None:
    cli("service-accounts", "create", "ci-bot")
    made = cli_json("tokens", "create", "forever", "--for", "ci-bot", "--expires", "never")
    assert SECRET.fullmatch(made["secret"])
    assert made["token"]["expires_ms"] is None
    assert made["token"]["state"] == "active"
    day = cli_json("tokens", "create", "short", "--for", "ci-bot", "--expires", "12h")["token"]
    assert day["expires_ms"] - day["created_ms"] == pytest.approx(12 * 3600 * 1000, abs=5000)


def test_token_usage_errors(home: Path) -> None:
    cli("service-accounts", "create", "ci-bot")
    bad = cli("tokens", "create", "t", "--for", "ci-bot", "--expires", "soon", code=2)
    assert "invalid duration 'soon'" in bad.output
    assert "--for" in cli("tokens", "create", "t", code=2).output  # the OS user is no account
    too_strong = cli("tokens", "create", "t", "--for", "ci-bot", "--scope", "write", code=1)
    assert "'write' token is more than viewer 'ci-bot'" in too_strong.output
    assert "no token with id" in cli("tokens", "revoke", "0" * 32, code=3).output
    assert "no tokens of yours" in cli("tokens", "list").output


# --- permissions ----------------------------------------------------------------------


def test_permissions_grant_list_revoke(home: Path) -> None:
    cli("service-accounts", "create", "ci-bot", "--role", "editor")
    experiment_id = cli_json("experiments", "create", "churn")["experiment_id"]
    resource = f"experiment:{experiment_id}"
    granted = cli("permissions", "grant", "ci-bot", resource, "edit")
    assert f"ci-bot may now edit experiment {experiment_id}" in granted.output
    cli("permissions", "grant", "ci-bot", resource, "manage")  # replaces
    rows = cli_json("permissions", "list", "--resource", resource)
    assert [(g["principal_name"], g["permission"]) for g in rows] == [("ci-bot", "manage")]
    assert cli_json("permissions", "list", "--account", "ci-bot") == rows
    assert "experiment:" in cli("permissions", "list").output
    cli("permissions", "revoke", "ci-bot", resource)
    assert cli_json("permissions", "list") == []
    again = cli("permissions", "revoke", "ci-bot", resource, code=3)
    assert "has no grant" in again.output


def test_permissions_on_a_dataset(home: Path) -> None:
    import pandas as pd

    cli("service-accounts", "create", "ci-bot", "--role", "editor")
    source = home / "orders.csv"
    pd.DataFrame({"id": [1, 2]}).to_csv(source, index=False)
    cli("data", "add", "orders", str(source))
    granted = cli("permissions", "grant", "ci-bot", "dataset:orders", "read")
    assert "ci-bot may now read dataset orders" in granted.output
    rows = cli_json("permissions", "list", "--resource", "dataset:orders")
    assert [(g["principal_name"], g["permission"]) for g in rows] == [("ci-bot", "read")]
    missing = cli("permissions", "grant", "ci-bot", "dataset:nope", "read", code=3)
    assert "no dataset named 'nope'" in missing.output


def test_permission_usage_errors(home: Path) -> None:
    cli("service-accounts", "create", "ci-bot")
    bad = cli("permissions", "grant", "ci-bot", "experiment5", "read", code=2)
    assert "is not KIND:ID" in bad.output
    assert (
        "'run' is not one of experiment"
        in cli("permissions", "grant", "ci-bot", "run:abc", "read", code=2).output
    )
    cli("permissions", "grant", "ci-bot", "experiment:0", "own", code=2)
    missing = cli("permissions", "grant", "ci-bot", "experiment:99", "read", code=3)
    assert "does not exist" in missing.output
    assert (
        "no account named 'nobody'"
        in cli("permissions", "grant", "nobody", "experiment:0", "read", code=3).output
    )


# --- audit ----------------------------------------------------------------------------


def history() -> int:
    """Six audited changes through the CLI: account, account, token, grant, update, revoke."""
    make_admin()
    cli("service-accounts", "create", "ci-bot", "--role", "editor")
    token = cli_json("tokens", "create", "deploy", "--for", "ci-bot", "--scope", "write")
    with Client() as client:  # tracking writes are not audited embedded
        experiment_id = client.create_experiment("churn")
    cli("permissions", "grant", "ci-bot", f"experiment:{experiment_id}", "edit")
    cli("users", "update", "ci-bot", "--description", "nightly training")
    cli("tokens", "revoke", token["token"]["token_id"])
    return int(experiment_id)


def test_audit_list_is_newest_first_and_filters(home: Path) -> None:
    experiment_id = history()
    me = cli_json("whoami")["name"]
    events = cli_json("audit", "list")
    assert [e["seq"] for e in events] == [6, 5, 4, 3, 2, 1]
    assert [e["action"] for e in events] == [
        "token.revoke", "account.update", "permission.grant",
        "token.create", "account.create", "account.create",
    ]  # fmt: skip
    assert {e["actor_name"] for e in events} == {me}

    def seqs(*args: str) -> list[int]:
        return [e["seq"] for e in cli_json("audit", "list", *args)]

    assert seqs("--action", "account.*") == [5, 2, 1]
    assert seqs("--action", "token.") == [6, 3]
    assert seqs("--action", "account.create") == [2, 1]
    assert seqs("--resource", f"experiment:{experiment_id}") == [4]
    assert seqs("--actor", me, "--limit", "2") == [6, 5]
    assert seqs("--actor", "somebody-else") == []
    assert seqs("--since", "1h") == [6, 5, 4, 3, 2, 1]
    assert seqs("--until", "2000-01-01T00:00:00Z") == []
    assert seqs("--since", "2000-01-01") == [6, 5, 4, 3, 2, 1]
    assert "--since" in cli("audit", "list", "--since", "yesterday", code=2).output
    assert "is not KIND:ID" in cli("audit", "list", "--resource", "x", code=2).output

    table = cli("audit", "list", "--limit", "1").output
    assert "token.revoke" in table
    assert "revoked_ms" in table  # the before→after summary
    assert "the newest 1" in table


Tamper = Callable[[Connection], int]


def _edit_actor(conn: Connection) -> int:
    conn.execute(text("UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 3"))
    return 3


def _delete_middle(conn: Connection) -> int:
    conn.execute(text("DELETE FROM audit_events WHERE seq = 3"))
    return 3


def _insert_forged(conn: Connection) -> int:
    conn.execute(
        text(
            "INSERT INTO audit_events (seq, event_id, at_ms, actor_id, actor_name, token_id, "
            'action, resource_kind, resource_id, "before", "after", request_id, client_addr, '
            "prev_hash, hash) "
            "SELECT seq + 1, :event_id, at_ms + 1, actor_id, actor_name, token_id, action, "
            'resource_kind, resource_id, "before", "after", request_id, client_addr, hash, :hash '
            "FROM audit_events WHERE seq = 6"
        ),
        {"event_id": "f0" * 16, "hash": "ab" * 32},
    )
    return 7


def _delete_newest(conn: Connection) -> int:
    conn.execute(text("DELETE FROM audit_events WHERE seq = 6"))
    return 6


TAMPERING = {
    "edited": (_edit_actor, "event 3 ({id}) was edited"),
    "deleted": (_delete_middle, "event 3 is missing (next is 4): deleted"),
    "inserted": (_insert_forged, "event 7 ({id}) lies beyond the recorded head 6"),
    "newest deleted": (_delete_newest, "events 6 to 6 are missing: deleted"),
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the CLI keeps its state: SQLite in LOOPML_HOME, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return database_url(home)
    url = str(request.getfixturevalue("postgres_databases").create())
    monkeypatch.setenv("LOOPML_DATABASE_URL", url)
    return url


def _tamper(url: str, tamper: Tamper) -> tuple[int, str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            bad_seq = tamper(conn)
            event_id = conn.execute(
                text("SELECT event_id FROM audit_events WHERE seq = :seq"), {"seq": bad_seq}
            ).scalar()
    finally:
        engine.dispose()
    return bad_seq, str(event_id)


@pytest.mark.parametrize("case", list(TAMPERING))
def test_audit_verify_passes_then_names_the_first_tampered_event(store_url: str, case: str) -> None:
    history()
    intact = cli("audit", "verify")
    head = cli_json("audit", "verify")["head_hash"]
    assert intact.output.split() == ["audit", "log", "intact:", "6", "events,", "head", head]

    tamper, expected = TAMPERING[case]
    bad_seq, event_id = _tamper(store_url, tamper)
    broken = cli("audit", "verify", code=1)
    assert "audit log broken:" in broken.output
    assert expected.format(id=event_id) in broken.output
    report = json.loads(cli("audit", "verify", "--json", code=1).stdout)
    assert (report["ok"], report["first_bad_seq"]) == (False, bad_seq)
