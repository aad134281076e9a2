"""The discovery document (OpenID Connect Discovery 1.0, RFC 8414): complete and truthful."""

from __future__ import annotations

from ..interaction.levels import ACR_VALUES
from .claims import IDENTITY_SCOPES, SCOPE_CLAIMS
from .grants import TOKEN_AUTH_METHODS
from .requests import REQUEST_OBJECT_ALGS

ASSERTION_ALGS = ("RS256", "PS256", "ES256", "EdDSA")


def provider_metadata(issuer: str) -> dict:
    claims = sorted({c for names in SCOPE_CLAIMS.values() for c in names}
                    | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"})
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "registration_endpoint": f"{issuer}/register",
        "require_pushed_authorization_requests": False,
        "scopes_supported": list(IDENTITY_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "revocation_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": [m for m in TOKEN_AUTH_METHODS if m != "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["fa", "en"],
        "claims_locales_supported": ["fa"],
        "display_values_supported": ["page", "touch", "popup", "wap"],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": True,
        "request_parameter_supported": True,
        "request_uri_parameter_supported": True,
        "require_request_uri_registration": False,
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGS),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "service_documentation": f"{issuer}/services",
    }
