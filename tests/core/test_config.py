"""Settings from the environment, including the server's guard switches."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.config import MAX_REQUEST_BYTES, Settings, is_loopback
from loopml.core.errors import InvalidParameter

GUARD_VARS = (
    "LOOPML_AUTH",
    "LOOPML_AUTH_DEFAULT_PERMISSION",
    "LOOPML_ALLOWED_HOSTS",
    "LOOPML_CORS_ORIGINS",
    "LOOPML_MAX_REQUEST_BYTES",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in GUARD_VARS:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_auth_off_read_default_no_cors(tmp_path: Path) -> None:
    settings = Settings.from_env(home=tmp_path)
    assert settings.auth is False
    assert settings.auth_default_permission == "read"
    assert settings.allowed_hosts == ()
    assert settings.cors_origins == ()
    assert settings.max_request_bytes == MAX_REQUEST_BYTES


def test_guard_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_AUTH", "on")
    monkeypatch.setenv("LOOPML_AUTH_DEFAULT_PERMISSION", "NONE")
    monkeypatch.setenv("LOOPML_ALLOWED_HOSTS", "ml.example.com, localhost")
    monkeypatch.setenv("LOOPML_CORS_ORIGINS", "https://ui.example.com")
    monkeypatch.setenv("LOOPML_MAX_REQUEST_BYTES", "2048")
    settings = Settings.from_env(home=tmp_path)
    assert settings.auth is True
    assert settings.auth_default_permission == "none"
    assert settings.allowed_hosts == ("ml.example.com", "localhost")
    assert settings.cors_origins == ("https://ui.example.com",)
    assert settings.max_request_bytes == 2048


def test_settings_survive_the_trip_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_AUTH", "true")
    monkeypatch.setenv("LOOPML_ALLOWED_HOSTS", "a,b")
    original = Settings.from_env()
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.from_env() == original


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOOPML_AUTH", "maybe", "LOOPML_AUTH must be true or false"),
        ("LOOPML_AUTH_DEFAULT_PERMISSION", "admin", "must be one of none, read, edit"),
        ("LOOPML_MAX_REQUEST_BYTES", "lots", "whole number of bytes"),
        ("LOOPML_MAX_REQUEST_BYTES", "10", "at least 1024"),
    ],
)
def test_bad_values_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidParameter, match=message):
        Settings.from_env(home=tmp_path)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "ml.example.com", "128.0.0.1"])
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)
