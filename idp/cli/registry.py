"""``idp registry import FILE.csv``: load civil-registry records, streaming, upserting."""

from __future__ import annotations

import click

from ..audit import Event, record
from ..registry_import import import_csv
from ._app import app_context


@click.group(help="The embedded civil registry.")
def registry():
    pass


@registry.command("import", help="Load records from a CSV file; re-import updates, never duplicates.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--batch", default=2000, show_default=True, type=int)
@click.option("--restart", is_flag=True, help="Start from the first line even if an import of this file was interrupted.")
def import_(path, batch, restart):
    with app_context():
        def progress(done):
            if done < 0:
                click.echo(f"  resuming an interrupted import after line {-done:,}", err=True)
            else:
                click.echo(f"  {done:,} rows…", err=True)

        try:
            result = import_csv(path, batch=batch, progress=progress, resume=not restart)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        record(Event.REGISTRY_IMPORTED, rows=result.imported, rejected=len(result.rejected))
    for line, reason in result.rejected[:20]:
        click.echo(f"line {line}: {reason}", err=True)
    if len(result.rejected) > 20:
        click.echo(f"… and {len(result.rejected) - 20} more rejected lines", err=True)
    click.echo(f"Imported {result.imported:,} records ({len(result.rejected):,} rejected).")
    if result.rejected and not result.imported:
        raise SystemExit(1)
