"""How ``loopml server`` decides on auth and allowed hosts from the address it binds."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app as cli
from loopml.core.config import LOOPBACK_HOSTS, Settings
from loopml.core.errors import InvalidParameter, InvalidState
from loopml.server.run import serve, server_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(home=tmp_path)


def test_loopback_keeps_auth_off_and_answers_loopback_names_only(settings: Settings) -> None:
    chosen = server_settings(settings, "127.0.0.1")
    assert chosen.auth is False
    assert chosen.allowed_hosts == LOOPBACK_HOSTS


def test_auth_flag_turns_it_on_for_loopback(settings: Settings) -> None:
    assert server_settings(settings, "127.0.0.1", auth=True).auth is True


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3"])
def test_any_other_address_forces_auth_on(settings: Settings, host: str) -> None:
    chosen = server_settings(settings, host)
    assert chosen.auth is True
    assert chosen.allowed_hosts == ()


def test_auth_cannot_be_turned_off_off_loopback(settings: Settings) -> None:
    with pytest.raises(InvalidParameter, match=r"auth cannot be turned off on 0\.0\.0\.0"):
        server_settings(settings, "0.0.0.0", auth=False)


def test_configured_hosts_win(settings: Settings) -> None:
    configured = Settings(**{**settings.__dict__, "allowed_hosts": ("ml.example.com",)})
    assert server_settings(configured, "127.0.0.1").allowed_hosts == ("ml.example.com",)


def test_a_guarded_server_without_an_admin_refuses_to_start(settings: Settings) -> None:
    with pytest.raises(InvalidState, match="loopml users create NAME --role admin"):
        serve("0.0.0.0", 5999, settings=settings)


def test_the_cli_says_so_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["server", "--host", "0.0.0.0", "--port", "5998"])
    assert result.exit_code == 1
    assert "no admin account yet" in result.output
    assert "Traceback" not in result.output
