"""``idp clients``: register relying-party services, and supervise them (list, show,
suspend, reactivate, retire, rotate-secret) through the registry (``idp.admin``)."""

from __future__ import annotations

import json

import click

from ..admin import clients as registry
from ..admin.errors import AdminError
from ..admin.policy import SERVICE_STATUSES
from ..admin.present import service_view
from ..audit import Event, record
from ..registration import AUTH_METHODS, GRANT_TYPES, ClientRequest, describe
from ._app import app_context
from ._operator import AS_OPTION, actor_for, echo_json, explained


@click.group(help="Relying-party services (OpenID Connect clients).")
def clients():
    pass


@clients.command(help="Register a relying-party service.")
@click.option("--name", required=True, help="The service's name (English; also Persian unless --name-fa).")
@click.option("--name-fa", help="The service's name in Persian.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeat for several).")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option("--scope", default="openid", show_default=True, help='Scopes the service may ask for, e.g. "openid profile".')
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--auth-method", default="client_secret_basic", show_default=True, type=click.Choice(AUTH_METHODS))
@click.option("--jwks", "jwks_file", type=click.File("r"), help="JSON Web Key Set of the client's public keys.")
@click.option("--jwks-uri")
@click.option("--subject-type", default="pairwise", show_default=True, type=click.Choice(["public", "pairwise"]))
@click.option("--backchannel-logout-uri")
@click.option("--agency", default="default", show_default=True, help="The agency that owns the service.")
@click.option("--agency-name-fa", help="The agency's name in Persian (shown to citizens).")
@click.option("--agency-name-en", help="The agency's name in English.")
@click.option("--client-uri", help="The service's home page (shown in the service catalogue).")
@click.option("--id-token-alg", default="RS256", show_default=True, type=click.Choice(["RS256", "ES256"]))
@click.option("--client-id", help="A chosen client_id (default: random).")
@click.option("--require-par", is_flag=True, help="Accept only pushed authorization requests (RFC 9126).")
@click.option("--default-acr", "default_acrs", multiple=True, help="Minimum level of assurance, e.g. urn:panjereh:loa:2.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (client_id, client_secret, ...).")
def add(name, name_fa, redirect_uris, post_logout_uris, scope, grant_types, auth_method, jwks_file, jwks_uri,
        subject_type, backchannel_logout_uri, agency, agency_name_fa, agency_name_en, client_uri, id_token_alg, client_id, require_par, default_acrs,
        as_json):
    try:
        jwks = json.load(jwks_file) if jwks_file else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--jwks") from None
    req = ClientRequest(
        name=name, name_fa=name_fa, redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_uris),
        scope=scope, grant_types=list(grant_types) or ["authorization_code"], auth_method=auth_method,
        jwks=jwks, jwks_uri=jwks_uri, subject_type=subject_type, backchannel_logout_uri=backchannel_logout_uri,
        agency=agency, agency_name_fa=agency_name_fa, agency_name_en=agency_name_en, client_uri=client_uri, id_token_signed_response_alg=id_token_alg, client_id=client_id,
        require_par=require_par, default_acr_values=list(default_acrs))
    with app_context():
        try:
            client, secret = registry.register_by_operator(req)  # validated like register(); recorded
        except AdminError as exc:
            raise click.UsageError(exc.description) from None
        record(Event.CLIENT_REGISTERED, client_id=client.client_id, via="cli")
        data = describe(client, secret)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"Registered service {data['client_name']}")
    click.echo(f"  client_id:     {data['client_id']}")
    if secret:
        click.echo(f"  client_secret: {secret}   (shown once; only its hash is kept)")


@clients.command("list", help="List services (filter by agency, status, scope; search names and client_id).")
@click.option("--agency", help="Agency slug.")
@click.option("--status", type=click.Choice(SERVICE_STATUSES))
@click.option("--scope", help="Only services entitled to this scope.")
@click.option("--search", "q", help="Text in the client_id or a name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def list_(agency, status, scope, q, as_json):
    with app_context():
        found = [service_view(c) for c in registry.list_services(q=q, agency=agency, status=status, scope=scope,
                                                                   limit=10_000)]
    for view in found:
        if as_json:
            echo_json(view)
        else:
            click.echo(f"{view['client_id']:24} {view['status']:10} {view['agency']:20} {view['client_name']}")


@clients.command(help="Show a service's registration.")
@click.argument("client_id")
def show(client_id):
    with app_context(), explained():
        view = service_view(registry.get_service(client_id))
        view["activity"] = registry.activity(registry.get_service(client_id))
    echo_json(view)


@clients.command(help="Suspend a service now: it signs no one in, and its live tokens are revoked.")
@click.argument("client_id")
@AS_OPTION
def suspend(client_id, as_):
    with app_context(), explained():
        revoked = registry.suspend_service(actor_for(as_), registry.get_service(client_id))
    click.echo(f"Suspended {client_id}; revoked {revoked} live token(s).")


@clients.command(help="Propose reactivating a suspended (or activating a pending) service; "
                      "a different administrator approves it with `idp proposals approve`.")
@click.argument("client_id")
@AS_OPTION
def reactivate(client_id, as_):
    with app_context(), explained():
        proposal = registry.propose_activation(actor_for(as_), registry.get_service(client_id))
        number = proposal.id
    click.echo(f"Proposal {number} filed; another administrator must approve it: idp proposals approve {number} "
               "--as NATIONAL_ID")


@clients.command(help="Retire a service for good (nothing is deleted); its live tokens are revoked.")
@click.argument("client_id")
@AS_OPTION
def retire(client_id, as_):
    with app_context(), explained():
        revoked = registry.retire_service(actor_for(as_), registry.get_service(client_id))
    click.echo(f"Retired {client_id}; revoked {revoked} live token(s).")


@clients.command("rotate-secret", help="Issue a new client secret (shown once); the old one stops working.")
@click.argument("client_id")
@AS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print {client_id, client_secret}.")
def rotate_secret(client_id, as_, as_json):
    with app_context(), explained():
        secret = registry.rotate_secret(actor_for(as_), registry.get_service(client_id))
    if as_json:
        echo_json({"client_id": client_id, "client_secret": secret})
    else:
        click.echo(f"  client_secret: {secret}   (shown once; only its hash is kept)")
