"""``idp agencies``: the agencies that own services, and their initial access tokens."""

from __future__ import annotations

import click

from ..admin import access_tokens
from ..admin import agencies as registry
from ..admin.present import agency_view, initial_token_view
from ._app import app_context
from ._operator import AS_OPTION, actor_for, echo_json, explained


@click.group(help="Agencies (owners of services).")
def agencies():
    pass


@agencies.command(help="Add an agency.")
@click.option("--slug", help="Stable identifier (default: from --name-en).")
@click.option("--name-en", required=True)
@click.option("--name-fa", required=True)
@click.option("--email", "contact_email", help="Contact email.")
@click.option("--phone", "contact_phone", help="Contact phone.")
@AS_OPTION
@click.option("--json", "as_json", is_flag=True)
def add(slug, name_en, name_fa, contact_email, contact_phone, as_, as_json):
    with app_context(), explained():
        view = agency_view(registry.create_agency(actor_for(as_), slug=slug, name_fa=name_fa, name_en=name_en,
                                                  contact_email=contact_email, contact_phone=contact_phone))
    if as_json:
        echo_json(view)
    else:
        click.echo(f"Added agency {view['slug']} ({view['name_en']}).")


@agencies.command("list", help="List agencies.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(as_json):
    with app_context():
        views = [agency_view(a) for a in registry.list_agencies(limit=10_000)]
    for view in views:
        if as_json:
            echo_json(view)
        else:
            click.echo(f"{view['slug']:24} {view['status']:10} {view['name_en']}")


@agencies.command(help="Show an agency, its services and its initial access tokens.")
@click.argument("slug")
def show(slug):
    with app_context(), explained():
        agency = registry.get_agency(slug)
        view = agency_view(agency)
        view["services"] = [{"client_id": c.client_id, "status": c.status, "client_name": c.name_en}
                            for c in agency.clients]
        view["initial_access_tokens"] = [initial_token_view(t) for t in access_tokens.list_for(agency)]
    echo_json(view)


@agencies.command("issue-token", help="Issue an initial access token for self-registration (RFC 7591); "
                                      "printed once.")
@click.argument("agency")
@click.option("--expires-in", default=access_tokens.DEFAULT_TTL, show_default=True, type=int, help="Seconds.")
@click.option("--single-use", is_flag=True, help="Valid for one registration only.")
@AS_OPTION
@click.option("--json", "as_json", is_flag=True)
def issue_token(agency, expires_in, single_use, as_, as_json):
    with app_context() as app, explained():
        row, token = access_tokens.issue(actor_for(as_), registry.get_agency(agency), expires_in, single_use)
        view = {**initial_token_view(row), "initial_access_token": token,
                "registration_endpoint": app.extensions["panjereh"].settings.issuer + "/register"}
    if as_json:
        echo_json(view)
        return
    click.echo(f"Initial access token for {agency} (expires {view['expires_at']}"
               f"{', single use' if single_use else ''}):")
    click.echo(f"  {token}")
    click.echo("  (shown once; only its hash is kept). Register at " + view["registration_endpoint"])
