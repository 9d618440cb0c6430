"""The SSRF guard for notifier URLs: every refused class, the allowlist, and DNS answers."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from loopml.core.errors import InvalidParameter
from loopml.monitoring.urls import check_url


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Answers ``socket.getaddrinfo`` for the names a test puts in the returned dict.

    ``socket.getaddrinfo`` is the stdlib boundary between the guard and the network
    (our code is not mocked): tests need names that resolve to a metadata or private
    address without a DNS server, so this stands in for the resolver. Names not in
    the dict go to the real resolver.
    """
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port, 0, 0) if ":" in a else (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("ftp://hooks.example.com/x", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://127.0.0.1:70/", "scheme 'gopher' is not allowed"),
        ("hooks.example.com/x", r"scheme '\(none\)' is not allowed"),
        ("https://user:secret@hooks.example.com/x", "user name or password"),
        ("https://user@hooks.example.com/x", "userinfo"),
        ("https:///path", "has no host"),
        ("https://hooks.example.com:99999/", "invalid port"),
        ("https://hooks.example.com/a b", "whitespace or control"),
        ("", "non-empty string"),
    ],
)
def test_malformed_urls_are_refused_naming_why(url: str, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        check_url(url, ["hooks.example.com", "127.0.0.1"])


def test_the_message_never_shows_the_path_or_query_where_webhook_secrets_live() -> None:
    with pytest.raises(InvalidParameter, match="not on the notifier allowlist") as caught:
        check_url("https://hooks.slack.com/services/T0/B0/s3cr3t?token=t0k3n", ["example.com"])
    assert "s3cr3t" not in caught.value.message
    assert "t0k3n" not in caught.value.message
    assert "https://hooks.slack.com:443" in caught.value.message


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/latest/", "is a cloud metadata address"),
        ("http://100.100.100.200/latest/", "is a cloud metadata address"),
        ("http://169.254.10.1/", "is a link-local address"),
        ("http://[fe80::1]/", "is a link-local address"),
        ("http://0.0.0.0:8080/", "is the unspecified address"),
        ("http://[::]:8080/", "is the unspecified address"),
        ("http://224.0.0.1/", "is a multicast address"),
        ("http://[ff02::1]/", "is a multicast address"),
        ("http://[::ffff:169.254.169.254]/", "is a cloud metadata address"),
        ("http://[64:ff9b::a9fe:a9fe]/", "is a cloud metadata address"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata host name"),
        ("http://METADATA.GOOGLE.INTERNAL./", "cloud metadata host name"),
        ("http://metadata.goog/", "cloud metadata host name"),
    ],
)
def test_metadata_link_local_unspecified_and_multicast_are_refused_even_when_allowlisted(
    url: str, match: str
) -> None:
    host = url.split("/")[2]
    with pytest.raises(InvalidParameter, match=match):
        check_url(url, [host, host.lower().rstrip("."), "*.google.internal", "*.goog"])
    with pytest.raises(InvalidParameter, match=match):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://[::1]:9000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.10/hook",
        "http://172.16.0.5/hook",
        "http://100.64.0.1/hook",
        "http://[fd12:3456::1]/hook",
    ],
)
def test_loopback_and_private_addresses_are_refused_unless_listed(url: str) -> None:
    with pytest.raises(InvalidParameter, match=r"internal \(loopback or private\) address"):
        check_url(url)
    host_port = url.split("/")[2]
    check_url(url, [host_port])


def test_localhost_is_refused_unless_allowed() -> None:
    with pytest.raises(InvalidParameter, match=r"'localhost' resolves to .*internal"):
        check_url("http://localhost:8080/hook")
    check_url("http://localhost:8080/hook", ["localhost"])


def test_other_spellings_of_loopback_do_not_match_a_listed_address() -> None:
    with pytest.raises(InvalidParameter, match="not on the notifier allowlist"):
        check_url("http://127.1/hook", ["127.0.0.1"])
    with pytest.raises(InvalidParameter, match="not on the notifier allowlist"):
        check_url("http://2130706433/hook", ["127.0.0.1"])
    with pytest.raises(InvalidParameter, match="internal"):
        check_url("http://2130706433/hook")  # resolves to 127.0.0.1 with no allowlist


def test_an_ipv6_literal_matches_its_canonical_allowlist_entry() -> None:
    check_url("http://[0:0:0:0:0:0:0:1]:9000/", ["::1"])
    check_url("http://[::1]:9000/", ["[::1]:9000"])


def test_allowlist_exact_host_wildcard_and_port(fake_dns: dict[str, list[str]]) -> None:
    fake_dns.update(
        {
            "hooks.example.com": ["93.184.215.14"],
            "a.b.example.com": ["93.184.215.15"],
            "example.com": ["93.184.215.16"],
            "evil-example.com": ["93.184.215.17"],
        }
    )
    allowlist = ["*.example.com", "127.0.0.1:9000"]
    check_url("https://hooks.example.com/x", allowlist)
    check_url("https://a.b.example.com/x", allowlist)
    check_url("http://127.0.0.1:9000/x", allowlist)
    for url in (
        "https://example.com/x",  # the wildcard needs a label before the suffix
        "https://evil-example.com/x",
        "http://127.0.0.1:9001/x",  # the entry names its port
        "http://127.0.0.1/x",
    ):
        with pytest.raises(InvalidParameter, match="not on the notifier allowlist"):
            check_url(url, allowlist)
    check_url("https://hooks.example.com:443/x", ["hooks.example.com:443"])
    with pytest.raises(InvalidParameter, match="not on the notifier allowlist"):
        check_url("https://hooks.example.com:8443/x", ["hooks.example.com:443"])


def test_no_allowlist_allows_any_public_host(fake_dns: dict[str, list[str]]) -> None:
    fake_dns["hooks.example.com"] = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    check_url("https://hooks.example.com/services/x")


def test_a_name_resolving_to_a_metadata_address_is_refused(fake_dns: dict[str, list[str]]) -> None:
    """DNS rebinding, roughly: an allowlisted name whose answer points at the metadata service."""
    fake_dns["hooks.example.com"] = ["93.184.215.14", "169.254.169.254"]
    with pytest.raises(
        InvalidParameter,
        match=r"'hooks.example.com' resolves to 169.254.169.254, which is a cloud metadata",
    ):
        check_url("https://hooks.example.com/x", ["hooks.example.com"])


def test_a_public_name_resolving_to_a_private_address_needs_listing(
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["intranet.example.com"] = ["10.0.0.7"]
    with pytest.raises(InvalidParameter, match=r"resolves to 10.0.0.7, which is an internal"):
        check_url("https://intranet.example.com/x")
    check_url("https://intranet.example.com/x", ["intranet.example.com"])


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="does not resolve"):
        check_url("https://no-such-host.invalid/x")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("", "must be a host"),
        ("https://hooks.example.com/x", "must be a host"),
        ("user@hooks.example.com", "must be a host"),
        ("hooks.*.com", "wildcard is only allowed as a leading"),
        ("*", "wildcard is only allowed as a leading"),
        ("hooks.example.com:http", "allowlist entry"),
    ],
)
def test_bad_allowlist_entries_are_refused_naming_the_entry(entry: str, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        check_url("http://127.0.0.1/x", [entry])
