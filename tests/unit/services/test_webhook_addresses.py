"""Finding 5: addresses a callback may not reach. NAT64 and 6to4 forms of private addresses
passed as global before; so did IPv6 multicast."""

from __future__ import annotations

import ipaddress

import pytest

from backend.services.webhooks import forbidden_address

FORBIDDEN = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "ff0e::1",
    "::ffff:10.0.0.1", "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address
    "64:ff9b::a00:1", "64:ff9b::808:808",  # NAT64 (10.0.0.1, 8.8.8.8)
    "64:ff9b:1::a00:1",
    "2002:a00:1::1", "2002:c0a8:101::1",  # 6to4 (10.0.0.1, 192.168.1.1)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",  # documentation
]  # fmt: skip
ALLOWED = ["8.8.8.8", "1.1.1.1", "200.147.67.142", "2606:4700:4700::1111", "2800:3f0:4001::1"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden(address: str) -> None:
    assert forbidden_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed(address: str) -> None:
    assert not forbidden_address(ipaddress.ip_address(address))
