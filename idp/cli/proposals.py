"""``idp proposals``: the two-person rule at the command line. Deciding needs
``--as NATIONAL_ID`` (an administrator other than the proposer)."""

from __future__ import annotations

import click

from ..admin import proposals as registry
from ..admin.present import proposal_view
from ._app import app_context
from ._operator import actor_for, echo_json, explained

AS_REQUIRED = click.option("--as", "as_", metavar="NATIONAL_ID", required=True,
                           help="The administrator deciding (not the proposer).")


@click.group(help="Changes waiting for a second administrator.")
def proposals():
    pass


@proposals.command("list", help="List proposals (open ones by default).")
@click.option("--status", default="open", show_default=True, type=click.Choice(registry.STATUSES + ("all",)))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_(status, as_json):
    with app_context():
        views = [proposal_view(p) for p in registry.list_proposals(status=None if status == "all" else status,
                                                                    limit=10_000)]
    for view in views:
        if as_json:
            echo_json(view)
        else:
            click.echo(f"{view['id']:>5} {view['status']:9} {view['kind']:10} {view['client_id'] or '-':24} "
                       f"by {view['proposed_by']}  needs {view['approvals_needed']} approval(s)")


@proposals.command(help="Approve a proposal (applied when it has its approvals).")
@click.argument("proposal_id", type=int)
@AS_REQUIRED
def approve(proposal_id, as_):
    with app_context(), explained():
        view = proposal_view(registry.approve(actor_for(as_), registry.get_proposal(proposal_id)))
    if view["status"] == "approved":
        click.echo(f"Proposal {proposal_id} approved and applied.")
    else:
        click.echo(f"Proposal {proposal_id} endorsed; a different administrator must approve it too.")


@proposals.command(help="Reject a proposal (kept on record).")
@click.argument("proposal_id", type=int)
@AS_REQUIRED
@click.option("--reason", help="Why (kept on record).")
def reject(proposal_id, as_, reason):
    with app_context(), explained():
        registry.reject(actor_for(as_), registry.get_proposal(proposal_id), reason)
    click.echo(f"Proposal {proposal_id} rejected.")
