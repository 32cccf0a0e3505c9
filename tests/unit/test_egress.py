"""The egress decision: address classes, host patterns and the operator's policy (no traffic)."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from toolweaver.errors import ConfigError
from toolweaver.execution.egress import (
    EgressDenied,
    EgressPolicy,
    HostPattern,
    address_category,
    allowed_addresses,
    parse_ip,
)


@pytest.mark.parametrize(
    ("address", "category"),
    [
        pytest.param("127.0.0.1", "loopback", id="v4-loopback"),
        pytest.param("127.255.255.254", "loopback", id="v4-loopback-end"),
        pytest.param("::1", "loopback", id="v6-loopback"),
        pytest.param("0.0.0.0", "unspecified", id="v4-unspecified"),  # noqa: S104 - classified, never bound
        pytest.param("::", "unspecified", id="v6-unspecified"),
        pytest.param("169.254.169.254", "cloud metadata", id="imds"),
        pytest.param("168.63.129.16", "cloud metadata", id="azure-wireserver"),
        pytest.param("fd00:ec2::254", "cloud metadata", id="v6-metadata"),
        pytest.param("169.254.1.1", "link-local", id="v4-link-local"),
        pytest.param("fe80::1", "link-local", id="v6-link-local"),
        pytest.param("10.0.0.1", "private", id="10/8"),
        pytest.param("172.16.0.1", "private", id="172.16/12"),
        pytest.param("172.31.255.255", "private", id="172.16/12-end"),
        pytest.param("192.168.1.1", "private", id="192.168/16"),
        pytest.param("fd12:3456::1", "unique-local", id="ula"),
        pytest.param("fc00::1", "unique-local", id="ula-fc"),
        pytest.param("100.64.0.1", "carrier-grade NAT", id="cgnat"),
        pytest.param("224.0.0.1", "multicast", id="v4-multicast"),
        pytest.param("ff02::1", "multicast", id="v6-multicast"),
        pytest.param("::ffff:127.0.0.1", "loopback (inside an IPv6 address)", id="mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", "cloud metadata (inside an IPv6 address)", id="mapped-imds"),
        pytest.param("::ffff:10.1.2.3", "private (inside an IPv6 address)", id="mapped-private"),
        pytest.param("2002:7f00:1::", "loopback (inside an IPv6 address)", id="6to4-loopback"),
        pytest.param("64:ff9b::a9fe:a9fe", "cloud metadata (inside an IPv6 address)", id="nat64-imds"),
        pytest.param("::127.0.0.1", "loopback (inside an IPv6 address)", id="v4-compatible"),
        pytest.param("8.8.8.8", None, id="public-v4"),
        pytest.param("172.32.0.1", None, id="just-outside-172.16/12"),
        pytest.param("100.128.0.1", None, id="just-outside-cgnat"),
        pytest.param("2606:4700::1111", None, id="public-v6"),
        pytest.param("::ffff:8.8.8.8", None, id="mapped-public"),
    ],
)
def test_address_categories(address: str, category: str | None) -> None:
    assert address_category(ipaddress.ip_address(address)) == category


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        pytest.param("2130706433", "127.0.0.1", id="decimal"),
        pytest.param("0177.0.0.1", "127.0.0.1", id="octal"),
        pytest.param("0x7f.0.0.1", "127.0.0.1", id="hex"),
        pytest.param("127.1", "127.0.0.1", id="short"),
        pytest.param("0251.0376.0251.0376", "169.254.169.254", id="octal-imds"),
        pytest.param("[::1]", "::1", id="bracketed-v6"),
        pytest.param("fe80::1%eth0", "fe80::1", id="scoped-v6"),
        pytest.param("example.com", None, id="a-name"),
    ],
)
def test_ip_spellings_are_read_as_the_resolver_reads_them(spelling: str, address: str | None) -> None:
    parsed = parse_ip(spelling)
    assert (str(parsed) if parsed else None) == address


def test_the_resolver_agrees_with_the_decimal_spelling() -> None:
    # No traffic: getaddrinfo on a numeric host only parses it.
    infos = socket.getaddrinfo("2130706433", 80, type=socket.SOCK_STREAM)
    assert {info[4][0] for info in infos} == {str(parse_ip("2130706433"))}


@pytest.mark.parametrize(
    ("pattern", "host", "port", "allowed"),
    [
        pytest.param("api.example.com", "api.example.com", 443, True, id="exact"),
        pytest.param("api.example.com", "API.Example.com.", 443, True, id="case-and-dot"),
        pytest.param("api.example.com", "api.example.com.evil.test", 443, False, id="suffix-trick"),
        pytest.param("api.example.com", "xapi.example.com", 443, False, id="prefix-trick"),
        pytest.param("*.example.com", "a.example.com", 443, True, id="wildcard"),
        pytest.param("*.example.com", "a.b.example.com", 443, True, id="wildcard-deep"),
        pytest.param("*.example.com", "example.com", 443, False, id="wildcard-not-apex"),
        pytest.param("*.example.com", "evilexample.com", 443, False, id="wildcard-no-glue"),
        pytest.param("api.example.com:8443", "api.example.com", 8443, True, id="port"),
        pytest.param("api.example.com:8443", "api.example.com", 443, False, id="other-port"),
        pytest.param("127.0.0.1:9000", "2130706433", 9000, True, id="address-any-spelling"),
        pytest.param("[::1]:9000", "::1", 9000, True, id="v6-port"),
        pytest.param("*.0.0.1", "127.0.0.1", 80, False, id="wildcards-never-match-addresses"),
    ],
)
def test_host_patterns(pattern: str, host: str, port: int, allowed: bool) -> None:
    assert HostPattern.parse(pattern).matches(host, port) is allowed


@pytest.mark.parametrize(
    "entry", ["http://a.example", "a.example/path", "user@a.example", "a.example:0", "a:x"]
)
def test_bad_host_entries_name_the_setting(entry: str) -> None:
    with pytest.raises(ConfigError, match="TOOL_ALLOWED_HOSTS"):
        HostPattern.parse(entry)


def test_bad_networks_name_the_setting() -> None:
    with pytest.raises(ConfigError, match="TOOL_PRIVATE_NETWORKS"):
        EgressPolicy.from_settings("", "10.0.0.0/33")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        pytest.param("https://api.example.com/v1", None, id="allowed"),
        pytest.param("https://other.example.com/v1", "host not allowed", id="other-host"),
        pytest.param("https://user:pw@api.example.com/", "must not carry credentials", id="userinfo"),
        pytest.param("ftp://api.example.com/", "absolute http(s)", id="scheme"),
        pytest.param("https://api.example.com:99999/", "not valid", id="bad-port"),
    ],
)
def test_url_decisions(url: str, problem: str | None) -> None:
    found = EgressPolicy.from_settings("api.example.com", "").url_problem(url)
    assert (problem is None and found is None) or (problem is not None and problem in (found or ""))


def test_an_empty_policy_allows_no_host() -> None:
    assert "TOOL_ALLOWED_HOSTS is empty" in (EgressPolicy().host_problem("api.example.com", 443) or "")


def _infos(*addresses: str) -> list[tuple[object, ...]]:
    return [
        (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 80))
        for a in addresses
    ]


def test_only_allowed_addresses_of_a_name_are_kept() -> None:
    policy = EgressPolicy.from_settings("svc.internal", "10.1.0.0/16")
    assert allowed_addresses(policy, _infos("10.1.2.3", "10.2.0.1", "127.0.0.1")) == ["10.1.2.3"]


def test_a_name_that_resolves_only_to_loopback_is_refused() -> None:
    with pytest.raises(EgressDenied, match=r"127\.0\.0\.1 is loopback"):
        allowed_addresses(EgressPolicy.from_settings("looks-public.example", ""), _infos("127.0.0.1"))


def test_metadata_stays_closed_even_inside_an_opened_network() -> None:
    policy = EgressPolicy.from_settings("*", "169.254.0.0/16,0.0.0.0/0")
    assert policy.address_problem(ipaddress.ip_address("169.254.1.1")) is None
    assert "cloud metadata" in (policy.address_problem(ipaddress.ip_address("169.254.169.254")) or "")


def test_a_mapped_address_is_judged_by_the_network_it_maps_to() -> None:
    policy = EgressPolicy.from_settings("", "127.0.0.0/8")
    assert policy.address_problem(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.address_problem(ipaddress.ip_address("::ffff:10.0.0.1")) is not None
