"""The rules of the registry, as named checks.

- Sensitive scopes (``IDP_SENSITIVE_SCOPES``, default ``national_id``) plus the
  privileged ones (``admin``, ``introspection``) are granted to a service only
  with a second administrator's approval.
- Privileged scopes are never granted through agency self-service.
- Redirect URI changes, activation and reactivation need a second administrator.
"""

from __future__ import annotations

from flask import current_app

#: the scope of the admin API (a client_credentials client or a citizen administrator's token)
ADMIN_SCOPE = "admin"
#: scopes that hand a service power over other services or the registry: never self-service
PRIVILEGED_SCOPES = frozenset({ADMIN_SCOPE, "introspection"})

SERVICE_STATUSES = ("pending", "active", "suspended", "retired")
AGENCY_STATUSES = ("active", "suspended")


def sensitive_scopes() -> frozenset[str]:
    """The configured sensitive scopes and the privileged ones."""
    settings = current_app.extensions["panjereh"].settings
    return frozenset(settings.sensitive_scopes.split()) | PRIVILEGED_SCOPES


def sensitive_in(scope: str) -> list[str]:
    return [s for s in scope.split() if s in sensitive_scopes()]


def grants_sensitive_scope(before_scope: str, after_scope: str) -> list[str]:
    """The sensitive scopes ``after`` entitles the service to that ``before`` did not (needs a second administrator)."""
    before = set(before_scope.split())
    return [s for s in after_scope.split() if s in sensitive_scopes() and s not in before]


def changes_redirect_uris(before: list, after: list) -> bool:
    """Any change to the redirect URIs (a different set, or order) needs a second administrator."""
    return list(before) != list(after)


def privileged_requested(scope: str) -> list[str]:
    """Privileged scopes in ``scope``: an agency cannot ask for these itself."""
    return [s for s in scope.split() if s in PRIVILEGED_SCOPES]


__all__ = ["ADMIN_SCOPE", "AGENCY_STATUSES", "PRIVILEGED_SCOPES", "SERVICE_STATUSES", "changes_redirect_uris",
           "grants_sensitive_scope", "privileged_requested", "sensitive_in", "sensitive_scopes"]
