"""Requests the provider makes to addresses a service registered (jwks_uri, back-channel logout).

In production (an https issuer) they go only to public https destinations: the
host is resolved first and loopback, private, link-local and reserved addresses
are refused, so a registration cannot point the provider at internal systems.
On a development issuer (http on the loopback address) local services are allowed.
Answers are read up to a size cap.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests

MAX_BYTES = 64 * 1024


class DestinationRefused(ValueError):
    """The address is not one the provider will call."""


def check_destination(uri: str, allow_private: bool) -> None:
    parts = urlsplit(uri)
    if allow_private:
        return
    if parts.scheme != "https" or not parts.hostname:
        raise DestinationRefused("only https destinations")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DestinationRefused(f"cannot resolve {parts.hostname}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise DestinationRefused(f"{parts.hostname} resolves to a non-public address")


def read_capped(response: requests.Response, limit: int = MAX_BYTES) -> bytes:
    body = b""
    for chunk in response.iter_content(8192):
        body += chunk
        if len(body) > limit:
            raise DestinationRefused("answer too large")
    return body
