"""Password rules, argon2id hashing, and the short-lived cache of successful checks."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from loopml.auth import Actor, AuthService
from loopml.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    VerifiedCache,
    check_password_rules,
    hash_password,
    verify_password,
)
from loopml.core.errors import InvalidParameter, Unauthenticated
from loopml.store.database import Database
from loopml.store.tables import principals

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def stored_hash() -> str:
    """One real (production-cost) hash, shared: each costs about 100 ms."""
    return hash_password(PASSWORD)


# --- rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "x" * MIN_PASSWORD_LENGTH,
        "x" * MAX_PASSWORD_LENGTH,
        "päßwörd 🙂 with spaces",
        "alice alice!",
    ],
)
def test_passwords_that_keep_the_rules_pass(password: str) -> None:
    check_password_rules("alice", password)


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("alice", "x" * (MIN_PASSWORD_LENGTH - 1), r"at least 12 characters; got 11"),
        ("alice", "", r"at least 12 characters; got 0"),
        ("alice", "x" * (MAX_PASSWORD_LENGTH + 1), r"at most 1024 characters"),
        ("administrator", "administrator", r"must not be the account name"),
        ("administrator", " Administrator ", r"must not be the account name"),
        ("alice", "twelve chars\n", r"control characters"),
        ("alice", "twelve\tchars!", r"control characters"),
        ("alice", "twelve chars\x00", r"control characters"),
        ("alice", "twelve chars\x1b", r"control characters"),
    ],
)
def test_a_password_that_breaks_a_rule_is_refused_naming_the_rule(
    name: str, password: str, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        check_password_rules(name, password)


# --- hashing ----------------------------------------------------------------------------


def test_hashes_are_argon2id_at_production_cost(stored_hash: str) -> None:
    assert stored_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored_hash


def test_the_same_password_hashes_differently_each_time(stored_hash: str) -> None:
    assert hash_password(PASSWORD) != stored_hash


def test_verify_accepts_only_the_password(stored_hash: str) -> None:
    assert verify_password(stored_hash, PASSWORD)
    assert not verify_password(stored_hash, PASSWORD + " ")
    assert not verify_password(stored_hash, PASSWORD.upper())


@pytest.mark.parametrize("stored", ["", "plain text", "$argon2id$v=19$garbage", "$2b$12$bcrypt"])
def test_verify_against_a_broken_hash_is_false_not_an_error(stored: str) -> None:
    assert not verify_password(stored, PASSWORD)


def test_verify_refuses_an_overlong_password_without_hashing_it(
    stored_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Exploding:
        def verify(self, *_args: object) -> bool:
            raise AssertionError("an overlong password must not be hashed")

    monkeypatch.setattr("loopml.auth.passwords._hasher", Exploding())
    assert not verify_password(stored_hash, "x" * (MAX_PASSWORD_LENGTH + 1))


def test_a_password_is_never_stored_in_plain_text(
    service: AuthService, root: Actor, db: Database
) -> None:
    service.create_account(root, "alice", password=PASSWORD)
    service.set_password(root, "alice", "another long secret")
    with db.read() as conn:
        row = conn.execute(select(principals).where(principals.c.name == "alice")).one()
    stored = " ".join(str(value) for value in row)
    assert PASSWORD not in stored
    assert "another long secret" not in stored
    assert row.password_hash.startswith("$argon2id$")
    assert verify_password(row.password_hash, "another long secret")


# --- VerifiedCache -------------------------------------------------------------------------


def test_the_cache_misses_until_a_check_succeeds(stored_hash: str) -> None:
    cache = VerifiedCache()
    assert not cache.hit("alice", PASSWORD, stored_hash)
    assert not cache.verify("alice", "wrong password!", stored_hash)
    assert not cache.hit("alice", "wrong password!", stored_hash)
    assert cache.verify("alice", PASSWORD, stored_hash)
    assert cache.hit("alice", PASSWORD, stored_hash)


def test_the_cache_hits_only_the_exact_triple(stored_hash: str) -> None:
    cache = VerifiedCache()
    assert cache.verify("alice", PASSWORD, stored_hash)
    assert not cache.hit("bob", PASSWORD, stored_hash)
    assert not cache.hit("alice", PASSWORD + "!", stored_hash)
    assert not cache.hit("alice", PASSWORD, hash_password(PASSWORD)), "a new stored hash misses"


def test_the_cache_forgets_after_its_ttl(stored_hash: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = VerifiedCache(ttl_s=60.0)
    assert cache.verify("alice", PASSWORD, stored_hash)
    later = time.monotonic() + 61.0
    monkeypatch.setattr("loopml.auth.passwords.time.monotonic", lambda: later)
    assert not cache.hit("alice", PASSWORD, stored_hash)


def test_the_cache_holds_no_password(stored_hash: str) -> None:
    cache = VerifiedCache()
    assert cache.verify("alice", PASSWORD, stored_hash)
    assert all(PASSWORD.encode() not in key for key in cache._seen)


def test_a_full_cache_starts_over(stored_hash: str) -> None:
    cache = VerifiedCache(max_entries=1)
    assert cache.verify("alice", PASSWORD, stored_hash)
    assert cache.verify("bob", PASSWORD, stored_hash)
    assert cache.hit("bob", PASSWORD, stored_hash)
    assert not cache.hit("alice", PASSWORD, stored_hash)


def test_after_a_password_reset_the_old_password_no_longer_signs_in(
    service: AuthService, root: Actor
) -> None:
    service.create_account(root, "alice", password=PASSWORD)
    assert service.authenticate_password("alice", PASSWORD).name == "alice"
    assert service.authenticate_password("alice", PASSWORD).name == "alice"  # from the cache
    service.set_password(root, "alice", "a brand new secret")
    with pytest.raises(Unauthenticated, match=r"^invalid username or password$"):
        service.authenticate_password("alice", PASSWORD)
    assert service.authenticate_password("alice", "a brand new secret").name == "alice"


def test_a_password_cannot_look_like_a_token() -> None:
    """Basic auth reads a password starting with lml_ as a token: it could never sign in."""
    with pytest.raises(InvalidParameter, match="must not start with 'lml_'"):
        check_password_rules("alice", "lml_this-is-long-enough")
