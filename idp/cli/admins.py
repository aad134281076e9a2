"""``idp admins``: who administers the agency registry."""

from __future__ import annotations

import click

from ..admin.accounts import administrators, grant_admin, revoke_admin
from ._app import app_context
from ._operator import AS_OPTION, actor_for, explained


@click.group(help="Administrators of the agency registry (citizens' accounts).")
def admins():
    pass


@admins.command(help="Make the citizen with this national ID an administrator.")
@click.argument("national_id")
@AS_OPTION
def grant(national_id, as_):
    with app_context(), explained():
        grant_admin(actor_for(as_), national_id)
    click.echo(f"{national_id} is an administrator.")


@admins.command(help="Take the administrator role away.")
@click.argument("national_id")
@AS_OPTION
def revoke(national_id, as_):
    with app_context(), explained():
        account = revoke_admin(actor_for(as_), national_id)
    click.echo(f"{national_id} is not an administrator." if account is not None else f"No account for {national_id}.")


@admins.command("list", help="List administrators.")
def list_():
    with app_context():
        rows = [(a.id, a.national_id) for a in administrators()]
    for account_id, national_id in rows:
        click.echo(f"{national_id}  (account:{account_id})")
