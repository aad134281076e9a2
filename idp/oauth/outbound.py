"""Requests the provider makes to addresses a service registered (jwks_uri, back-channel logout).

In production (an https issuer) they go only to public https destinations: the
host is resolved first and loopback, private, link-local and reserved addresses
are refused, so a registration cannot point the provider at internal systems.
On a development issuer (http on the loopback address) local services are allowed.
Answers are read up to a size cap.

The address checked is the address used: ``outbound_session`` connects only to the
addresses it has just resolved and checked, so a DNS server that answers a public
address to the check and an internal one to the connection (DNS rebinding) gains
nothing. (An egress proxy configured through the environment resolves names itself;
the check before the request still applies then.)
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection

MAX_BYTES = 64 * 1024


class DestinationRefused(ValueError):
    """The address is not one the provider will call."""


def check_destination(uri: str, allow_private: bool) -> None:
    parts = urlsplit(uri)
    if allow_private:
        return
    if parts.scheme != "https" or not parts.hostname:
        raise DestinationRefused("only https destinations")
    public_addresses(parts.hostname, parts.port or 443)


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, all of them public, else DestinationRefused."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DestinationRefused(f"cannot resolve {host}") from exc
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise DestinationRefused(f"{host} resolves to a non-public address")
        addresses.append(str(address))
    return addresses


class _CheckedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """Resolves, checks, and connects to the checked address itself (TLS still verifies the name)."""

    def _new_conn(self):
        failure = None
        for address in public_addresses(self._dns_host, self.port):
            try:
                return connection.create_connection((address, self.port), self.timeout,
                                                    source_address=self.source_address,
                                                    socket_options=self.socket_options)
            except OSError as exc:
                failure = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")


class _CheckedPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {**self.poolmanager.pool_classes_by_scheme, "https": _CheckedPool}


def outbound_session(allow_private: bool) -> requests.Session:
    """An HTTP session for calls to registered addresses: in production every connection goes
    to a public address checked at the moment of connecting."""
    session = requests.Session()
    if not allow_private:
        session.mount("https://", _CheckedAdapter())
    return session


def read_capped(response: requests.Response, limit: int = MAX_BYTES) -> bytes:
    body = b""
    for chunk in response.iter_content(8192):
        body += chunk
        if len(body) > limit:
            raise DestinationRefused("answer too large")
    return body
