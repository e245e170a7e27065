"""The client's address behind reverse proxies, trusting only the proxies the bank names.

``X-Forwarded-For`` is a list each proxy appends the address it saw to; anything left of the last
trusted hop was written by the client and may be forged. So the client is the rightmost address that
is not a trusted proxy, read from the peer inwards, and the header is ignored entirely unless the
peer itself is a trusted proxy (setting ``ARREARS_TRUSTED_PROXIES``; empty = none, the default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def parse_networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses or CIDR blocks (``10.0.0.0/8``, ``127.0.0.1``, ``::1``); a bad entry is a clear error."""
    networks = []
    for entry in spec:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: Iterable[Network]) -> bool:
    return address is not None and any(address in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str | None:
    """The address to throttle and record for a request whose TCP peer is ``peer``."""
    if peer is None:
        return None
    if not forwarded_for or not _trusted(_address(peer), trusted):
        return peer[:64]
    client = peer
    for hop in reversed(forwarded_for.split(",")[-32:]):
        address = _address(hop)
        if address is None:
            break  # not written by a proxy of ours: the last good hop is all we know
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client[:64]


def request_client(request: object) -> str | None:
    """:func:`client_address` of a Starlette request, with the app's ``trusted_proxies`` setting."""
    client = getattr(request, "client", None)
    peer = client.host if client else None
    settings = getattr(getattr(getattr(request, "app", None), "state", None), "settings", None)
    trusted = parse_networks(tuple(getattr(settings, "trusted_proxies", ()) or ()))
    headers = getattr(request, "headers", {})
    return client_address(peer, headers.get("x-forwarded-for"), trusted)
