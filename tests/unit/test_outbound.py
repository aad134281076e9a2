"""Where the provider may send requests on a registration's behalf (jwks_uri, back-channel logout)."""

import pytest
import requests

from idp.oauth.outbound import DestinationRefused, check_destination


@pytest.mark.parametrize("uri", [
    "https://127.0.0.1/jwks", "https://localhost/jwks", "https://10.1.2.3/jwks", "https://192.168.0.10/x",
    "https://169.254.169.254/latest/meta-data", "https://[::1]/x", "https://[fd00::1]/x", "https://0.0.0.0/x",
    "http://8.8.8.8/jwks",  # not https
])
def test_production_refuses_internal_and_plain_destinations(uri):
    with pytest.raises(DestinationRefused):
        check_destination(uri, allow_private=False)


def test_production_allows_public_https():
    check_destination("https://8.8.8.8/jwks", allow_private=False)


def test_development_allows_local_services():
    check_destination("http://127.0.0.1:8080/jwks", allow_private=True)


class Resolver:
    """getaddrinfo that answers the given addresses in turn (a DNS server that changes its mind)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked = 0

    def __call__(self, host, port, *args, **kwargs):
        import socket

        answer = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, port))]


def test_a_name_that_rebinds_to_an_internal_address_is_refused_at_connect(monkeypatch):
    import idp.oauth.outbound as outbound

    resolver = Resolver("93.184.216.34", "127.0.0.1")  # public for the check, loopback for the call
    monkeypatch.setattr(outbound.socket, "getaddrinfo", resolver)
    connected = []
    monkeypatch.setattr(outbound.connection, "create_connection", lambda address, *a, **k: connected.append(address))
    check_destination("https://keys.agency.example/jwks", allow_private=False)
    with pytest.raises(DestinationRefused):
        outbound.outbound_session(allow_private=False).get("https://keys.agency.example/jwks", timeout=2)
    assert resolver.asked == 2 and connected == []  # never connected anywhere


def test_the_connection_goes_to_the_address_just_checked(monkeypatch):
    import idp.oauth.outbound as outbound

    monkeypatch.setattr(outbound.socket, "getaddrinfo", Resolver("93.184.216.34"))
    connected = []

    def refuse(address, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(outbound.connection, "create_connection", refuse)
    with pytest.raises(requests.ConnectionError):
        outbound.outbound_session(allow_private=False).get("https://keys.agency.example:8443/jwks", timeout=2)
    assert connected and all(address == ("93.184.216.34", 8443) for address in connected)  # no name to resolve again
