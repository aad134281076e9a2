"""Who acts at the command line, and how the registry's refusals are shown.

Without ``--as`` the operator ``cli`` acts (recorded as ``operator:cli``);
proposing and deciding under the two-person rule need ``--as NATIONAL_ID``,
an account with ``is_admin`` (``idp admins grant``)."""

from __future__ import annotations

import contextlib
import json

import click

from ..admin.actors import CLI_OPERATOR, VIA_CLI, administrator_by_national_id
from ..admin.errors import AdminError

AS_OPTION = click.option("--as", "as_", metavar="NATIONAL_ID",
                         help="The administrator acting (required for proposals and decisions).")


def actor_for(as_: str | None):
    return administrator_by_national_id(as_, via=VIA_CLI) if as_ else CLI_OPERATOR


@contextlib.contextmanager
def explained():
    """An AdminError becomes the command's error message (exit status 1)."""
    try:
        yield
    except AdminError as exc:
        raise click.ClickException(exc.description) from None


def echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))
