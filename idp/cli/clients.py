"""``idp clients``: register relying-party services."""

from __future__ import annotations

import json

import click

from ..audit import Event, record
from ..registration import AUTH_METHODS, GRANT_TYPES, ClientRequest, RegistrationError, describe, register
from ._app import app_context


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
            client, secret = register(req)
        except RegistrationError as exc:
            raise click.UsageError(str(exc)) from None
        record(Event.CLIENT_REGISTERED, client_id=client.client_id, via="cli")
        data = describe(client, secret)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    click.echo(f"Registered service {data['client_name']}")
    click.echo(f"  client_id:     {data['client_id']}")
    if secret:
        click.echo(f"  client_secret: {secret}   (shown once; only its hash is kept)")
