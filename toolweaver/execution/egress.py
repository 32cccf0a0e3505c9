"""Where http and mcp tools may connect: the operator's host allow-list and the address ranges.

Two checks, both decided by the operator (settings), never by a tool:

- the URL's host must match ``TOOL_ALLOWED_HOSTS`` (``api.example.com``, ``*.example.com`` for
  subdomains, ``host:port`` to pin a port, IP literals in any spelling the resolver accepts);
- every address the host resolves to must be public, unless it lies in ``TOOL_PRIVATE_NETWORKS``.
  Loopback, link-local, private, unique-local, carrier-grade NAT and other special ranges are
  refused otherwise, IPv4-mapped and other IPv6 embeddings of them included. Cloud metadata and
  identity endpoints are refused whatever the settings say.

The address check runs on the address actually connected to: ``guarded_transport`` resolves the
name itself, keeps only allowed addresses and connects to one of them, so a name that resolves to
127.0.0.1 (or re-resolves there between a check and the connect) never gets through. TLS still
verifies the certificate against the host name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from toolweaver.errors import ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata and identity services (Azure IMDS and wire server, and the same for other
# clouds): a tool has no business there, so no setting opens them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "168.63.129.16", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
_SPECIAL_V4 = (
    ("carrier-grade NAT", ipaddress.ip_network("100.64.0.0/10")),
    ("benchmarking", ipaddress.ip_network("198.18.0.0/15")),
    ("this network", ipaddress.ip_network("0.0.0.0/8")),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_ULA = ipaddress.ip_network("fc00::/7")


class EgressDenied(Exception):
    """A connection the operator's egress policy does not allow; the message says why."""


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an address when it is one, in any spelling a resolver accepts.

    ``2130706433``, ``0177.0.0.1``, ``0x7f.1`` and ``127.1`` all name 127.0.0.1 to ``inet_aton``
    (and so to the resolver that would connect), so they are read the same way here.
    """
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(packed)
    return None


def address_category(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address (e.g. ``"loopback"``), or None when it is."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_v4(address)
        if inner is not None:
            category = address_category(inner)
            return f"{category} (inside an IPv6 address)" if category else None
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unique-local", isinstance(address, ipaddress.IPv6Address) and address in _ULA),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    if isinstance(address, ipaddress.IPv4Address):
        for name, network in _SPECIAL_V4:
            if address in network:
                return name
    return None if address.is_global else "not globally routable"


@dataclass(frozen=True)
class HostPattern:
    """One entry of TOOL_ALLOWED_HOSTS: a host name (``*.`` wildcard allowed) or address, and a port."""

    host: str
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> HostPattern:
        text = entry.strip().lower()
        if not text or "/" in text or "@" in text:
            raise ConfigError(
                f"TOOL_ALLOWED_HOSTS entry {entry!r} is not a host: use api.example.com, "
                "*.example.com, host:port or [::1]:port"
            )
        host, port = text, None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif text.count(":") == 1:
            host, port_text = text.split(":")
        else:
            port_text = ""
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigError(f"TOOL_ALLOWED_HOSTS entry {entry!r}: the port must be 1-65535")
            port = int(port_text)
        address = parse_ip(host)
        return cls(str(address) if address is not None else host.rstrip("."), port)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        address = parse_ip(host)
        name = str(address) if address is not None else host.lower().rstrip(".")
        if self.host.startswith("*."):
            return address is None and name.endswith(self.host[1:])  # any subdomain, never the apex
        return name == self.host


@dataclass(frozen=True)
class EgressPolicy:
    """The operator's rules for outgoing tool connections (see the module docstring)."""

    allowed_hosts: tuple[HostPattern, ...] = ()
    private_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, hosts: str, networks: str) -> EgressPolicy:
        patterns = tuple(HostPattern.parse(item) for item in _items(hosts))
        parsed: list[IPNetwork] = []
        for item in _items(networks):
            try:
                parsed.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"TOOL_PRIVATE_NETWORKS entry {item!r} is not a network: use CIDR such as 10.1.0.0/16"
                ) from None
        return cls(patterns, tuple(parsed))

    @property
    def described_hosts(self) -> str:
        if not self.allowed_hosts:
            return "none (TOOL_ALLOWED_HOSTS is empty)"
        return ", ".join(p.host + (f":{p.port}" if p.port else "") for p in self.allowed_hosts)

    def url_problem(self, url: str) -> str | None:
        """Why a tool may not use ``url`` (scheme, credentials in it, host not allowed), or None."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            return f"the URL is not valid ({exc})"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "the URL must be absolute http(s) with a host"
        if parts.username is not None or parts.password is not None:
            return "the URL must not carry credentials; declare them in TOOL_SECRETS"
        return self.host_problem(parts.hostname, port)

    def host_problem(self, host: str, port: int) -> str | None:
        if any(pattern.matches(host, port) for pattern in self.allowed_hosts):
            return None
        return f"host not allowed: {host}:{port} is not in TOOL_ALLOWED_HOSTS ({self.described_hosts})"

    def address_problem(self, address: IPAddress) -> str | None:
        """Why connecting to ``address`` is refused, or None when it may be used."""
        category = address_category(address)
        if category is None:
            return None
        if address not in METADATA_ADDRESSES and any(
            _contains(network, address) for network in self.private_networks
        ):
            return None
        return f"address not allowed: {address} is {category} and not in TOOL_PRIVATE_NETWORKS"


def _contains(network: IPNetwork, address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version == network.version and address in network


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]


def allowed_addresses(policy: EgressPolicy, infos: Iterable[Sequence[Any]]) -> list[str]:
    """From ``getaddrinfo`` results, the addresses the policy allows; EgressDenied when none."""
    allowed: list[str] = []
    refused: list[str] = []
    for info in infos:
        text = str(info[4][0])
        address = parse_ip(text)
        problem = policy.address_problem(address) if address is not None else f"{text} is not an address"
        if problem is None:
            if text not in allowed:
                allowed.append(text)
        else:
            refused.append(problem)
    if not allowed:
        raise EgressDenied(refused[0] if refused else "the host resolves to no address")
    return allowed
