"""Outbound URL checks: notifiers must not become a server-side request forgery.

Alert rules and notifiers are configured by users, and a webhook URL makes the
server send a request wherever it points. :func:`check_url` is the guard every
outbound notifier calls, once when it is configured and again before each send
(the DNS answer may have changed since).

The policy, in the order it is checked:

- only ``http`` and ``https``; no user name or password in the URL;
- with an allowlist configured, the host must match one of its entries: an exact
  host (``hooks.slack.com``, ``127.0.0.1``, ``[::1]``) or a suffix wildcard
  (``*.example.com``, which matches ``a.example.com`` and ``a.b.example.com`` but
  not ``example.com``), each optionally with a port (``127.0.0.1:8080``);
- whatever the allowlist says, refused: cloud metadata names and addresses
  (``metadata.google.internal``, ``169.254.169.254``, ``fd00:ec2::254``, ...),
  link-local (``169.254.0.0/16``, ``fe80::/10``), unspecified (``0.0.0.0``, ``::``)
  and multicast addresses;
- the host name is resolved and every address it resolves to is checked, so a
  name pointing at a metadata or internal address is refused like the address;
- loopback, private and other non-global addresses (``127.0.0.0/8``, ``10.0.0.0/8``,
  ``192.168.0.0/16``, ``fc00::/7``, ``100.64.0.0/10``, ...) only for a host the
  allowlist names. This is default-deny for internal addresses on purpose: alerts
  go to external chat and webhook services, and an internal receiver is a
  deliberate choice an operator writes down (tests allow ``127.0.0.1`` this way).

IPv4 addresses embedded in IPv6 (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``) are
checked as the IPv4 address they carry. Messages name the scheme, host and port
only, never the path or query: webhook URLs often carry their secret there.

What this does not do: the HTTP client resolves the name again when it connects,
so a DNS server that answers differently within that instant can still slip past
(the check narrows DNS rebinding, it does not close it; pinning the connection to
the checked address would).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from loopml.core.errors import InvalidParameter

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class AllowlistEntry:
    """One allowlist entry: an exact host or a ``*.suffix``, and an optional port."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> AllowlistEntry:
        """Read ``host``, ``host:port``, ``*.suffix[:port]`` or ``[v6][:port]``."""
        if not isinstance(entry, str) or not entry.strip() or "/" in entry or "@" in entry:
            raise InvalidParameter(
                f"allowlist entry {entry!r} must be a host, *.suffix or host:port"
            )
        text = entry.strip()
        if text.count(":") > 1 and not text.startswith("["):
            text = f"[{text}]"  # a bare IPv6 address, "::1"
        try:
            parts = urlsplit(f"//{text}")
            port = parts.port
        except ValueError as exc:
            raise InvalidParameter(f"allowlist entry {entry!r}: {exc}") from None
        host = _normalise_host(parts.hostname or "")
        if not host or host == "*." or host.count("*") > (1 if host.startswith("*.") else 0):
            raise InvalidParameter(
                f"allowlist entry {entry!r}: a wildcard is only allowed as a leading '*.'"
            )
        return cls(host, port)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


def check_url(url: str, allowlist: Sequence[str] = ()) -> None:
    """Refuse a URL a notifier must not send to; return quietly when it may.

    Args:
        url: the receiver's URL.
        allowlist: hosts the URL may point at (see the module docstring); empty
            means any host whose every address is public.

    Raises:
        InvalidParameter: naming the reason (scheme, user info, allowlist, a
            metadata, link-local, unspecified, multicast or internal address, or a
            name that does not resolve) and the scheme, host and port.
    """
    entries = [AllowlistEntry.parse(entry) for entry in allowlist]
    parts = _split(url)
    origin, host, port = _origin(parts)
    listed = any(entry.matches(host, port) for entry in entries)
    if entries and not listed:
        raise InvalidParameter(f"url {origin}: host {host!r} is not on the notifier allowlist")
    if host in METADATA_HOSTS or any(host.endswith(f".{name}") for name in METADATA_HOSTS):
        raise InvalidParameter(f"url {origin}: {host!r} is a cloud metadata host name")
    for address in _addresses(host, port, origin):
        _check_address(address, host, origin, listed)


def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise InvalidParameter("url must be a non-empty string")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidParameter("url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidParameter(f"url is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise InvalidParameter(
            f"url scheme {scheme or '(none)'!r} is not allowed; use http or https"
        )
    if "@" in parts.netloc:
        raise InvalidParameter("url must not carry a user name or password (userinfo)")
    return parts


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    """``scheme://host:port`` for messages, the normalised host and the effective port."""
    scheme = parts.scheme.lower()
    host = _normalise_host(parts.hostname or "")
    if not host:
        raise InvalidParameter(f"url {scheme}:// has no host")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise InvalidParameter(f"url {scheme}://{host} has an invalid port") from None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}", host, port


def _normalise_host(host: str) -> str:
    """Lowercase without a trailing dot; an IP literal in its canonical form."""
    host = host.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _addresses(host: str, port: int, origin: str) -> list[IPAddress]:
    """The host as an IP literal, or every address it resolves to."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidParameter(f"url {origin}: host {host!r} does not resolve ({exc})") from None
    # sockaddr[0] is the address; an IPv6 one may carry a zone ("fe80::1%eth0").
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise InvalidParameter(f"url {origin}: host {host!r} resolves to no address")
    return addresses


def _check_address(address: IPAddress, host: str, origin: str, listed: bool) -> None:
    shown = address if str(address) == host else f"{host!r} resolves to {address}, which"
    address = _embedded_ipv4(address)
    reason = _always_refused(address)
    if reason:
        raise InvalidParameter(f"url {origin}: {shown} is {reason}")
    if not address.is_global and not listed:
        raise InvalidParameter(
            f"url {origin}: {shown} is an internal (loopback or private) address; "
            "allowed only for a host named on the notifier allowlist"
        )


def _always_refused(address: IPAddress) -> str:
    """Why an address is refused whatever the allowlist says, or ``""``."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        return "the broadcast address"
    return ""


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address, else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address
