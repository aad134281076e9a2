"""The ``idp`` command group: one module per group of commands."""

from __future__ import annotations

import click

from . import admins, agencies, clients, demo, keys, proposals, registry, setup
from . import sessions as sessions_cli


@click.group(help="Panjereh, the government single sign-on: operator commands.")
def main():
    pass


main.add_command(setup.setup)
main.add_command(setup.serve)
main.add_command(demo.demo)
main.add_command(registry.registry)
main.add_command(clients.clients)
main.add_command(keys.keys)
main.add_command(sessions_cli.sessions)
main.add_command(agencies.agencies)
main.add_command(admins.admins)
main.add_command(proposals.proposals)
