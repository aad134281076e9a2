"""How registry objects look outside: in the admin API, in ``before``/``after`` of
the admin record, and at the command line. Never a secret or a secret's hash."""

from __future__ import annotations

from datetime import datetime

from ..models import AdminAction, Agency, Client, InitialAccessToken, Proposal
from .policy import sensitive_in


def timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def agency_view(agency: Agency) -> dict:
    return {
        "slug": agency.slug,
        "name_fa": agency.name_fa,
        "name_en": agency.name_en,
        "contact_email": agency.contact_email,
        "contact_phone": agency.contact_phone,
        "status": agency.status,
        "created_at": timestamp(agency.created_at),
    }


def service_view(client: Client) -> dict:
    """The service's registration (OpenID Connect client metadata names where they exist)."""
    return {
        "client_id": client.client_id,
        "agency": client.agency.slug,
        "status": client.status,
        "client_name": client.name_en,
        "client_name_fa": client.name_fa,
        "description_en": client.description_en,
        "description_fa": client.description_fa,
        "logo_uri": client.logo_uri,
        "client_uri": client.client_uri,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "response_types": list(client.response_types or []),
        "scope": client.scope,
        "sensitive_scopes": sensitive_in(client.scope),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "has_client_secret": client.client_secret_hash is not None,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "subject_type": client.subject_type,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "require_pushed_authorization_requests": bool(client.require_par),
        "default_acr_values": list(client.default_acr_values or []),
        "registered_via": client.registered_via,
        "created_at": timestamp(client.created_at),
        "updated_at": timestamp(client.updated_at),
    }


def record_view(client: Client) -> dict:
    """``service_view`` without the timestamps that change on every write (for before/after)."""
    view = service_view(client)
    view.pop("updated_at")
    return view


def proposal_view(proposal: Proposal) -> dict:
    if proposal.decision:
        status, needed = proposal.decision, 0
    else:
        status = "open"
        needed = 2 if proposal.proposed_by.startswith("agency:") and not proposal.endorsed_by else 1
    return {
        "id": proposal.id,
        "kind": proposal.kind,
        "status": status,
        "client_id": proposal.client.client_id if proposal.client else None,
        "agency": proposal.agency.slug if proposal.agency else None,
        "payload": proposal.payload,
        "proposed_by": proposal.proposed_by,
        "proposed_at": timestamp(proposal.proposed_at),
        "endorsed_by": proposal.endorsed_by,
        "endorsed_at": timestamp(proposal.endorsed_at),
        "approvals_needed": needed,
        "decision": proposal.decision,
        "decided_by": proposal.decided_by,
        "decided_at": timestamp(proposal.decided_at),
        "reason": proposal.reason,
        "applied_at": timestamp(proposal.applied_at),
    }


def action_view(action: AdminAction) -> dict:
    return {
        "id": action.id,
        "at": timestamp(action.at),
        "actor": f"{action.actor_type}:{action.actor_id}",
        "actor_type": action.actor_type,
        "actor_id": action.actor_id,
        "via": action.via,
        "action": action.action,
        "target_type": action.target_type,
        "target_id": action.target_id,
        "before": action.before,
        "after": action.after,
        "proposal_id": action.proposal_id,
        "ip": action.ip,
        "user_agent": action.user_agent,
    }


def initial_token_view(token: InitialAccessToken) -> dict:
    return {
        "id": token.id,
        "agency": token.agency.slug,
        "issued_by": token.issued_by,
        "issued_at": timestamp(token.issued_at),
        "expires_at": timestamp(token.expires_at),
        "single_use": token.single_use,
        "uses": token.uses,
        "used_at": timestamp(token.used_at),
        "usable": token.usable(),
    }


__all__ = ["action_view", "agency_view", "initial_token_view", "proposal_view", "record_view", "service_view",
           "timestamp"]
