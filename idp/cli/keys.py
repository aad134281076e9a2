"""``idp keys``: signing-key rotation."""

from __future__ import annotations

import click

from ..audit import Event, record
from ..services import services
from ._app import app_context


@click.group(help="Signing keys.")
def keys():
    pass


@keys.command(help="Add new signing keys and make them active; old public keys stay published.")
@click.option("--retain", default=86400, show_default=True, type=int,
              help="Seconds the replaced keys stay published after the new ones start signing.")
@click.option("--publish-ahead", default=0, show_default=True, type=int,
              help="Seconds the new keys are published before they start signing (relying parties' JWKS caches).")
def rotate(retain, publish_ahead):
    with app_context():
        svc = services()
        if retain < svc.settings.id_token_ttl or retain < svc.settings.access_token_ttl:
            raise click.BadParameter("must outlive every token signed by the old keys", param_hint="--retain")
        created = svc.keys.rotate(retain, publish_ahead)
        removed = svc.keys.prune()
        record(Event.KEYS_ROTATED, kids=[k.kid for k in created], pruned=removed)
    for key in created:
        click.echo(f"New {key.alg} key {key.kid}.")
    if removed:
        click.echo(f"Removed {removed} expired key(s).")
