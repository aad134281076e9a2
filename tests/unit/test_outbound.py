"""Where the provider may send requests on a registration's behalf (jwks_uri, back-channel logout)."""

import pytest

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
