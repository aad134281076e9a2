"""The discovery document (OpenID Connect Discovery 1.0, RFC 8414): complete and truthful."""

from __future__ import annotations

from ..interaction.levels import ACR_VALUES
from .claims import IDENTITY_SCOPES, SCOPE_CLAIMS


def provider_metadata(issuer: str) -> dict:
    claims = sorted({c for names in SCOPE_CLAIMS.values() for c in names}
                    | {"iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash"})
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "scopes_supported": list(IDENTITY_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["fa", "en"],
        "claims_locales_supported": ["fa"],
        "display_values_supported": ["page", "touch"],
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "service_documentation": f"{issuer}/services",
    }
