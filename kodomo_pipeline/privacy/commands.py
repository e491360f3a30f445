"""`kodomo purge` and `kodomo audit`: retention and the access record, for operators and privacy reviewers.

Plain `click.Command` objects, registered on the `kodomo` group by cli.py (`main.add_command(...)`).
They print file names and counts only, never a value of the data.
"""

from __future__ import annotations

import datetime as dt
import json

import click

from kodomo_pipeline.cli_params import TownParam, parse_date
from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.paths import data_root
from kodomo_pipeline.config.towns import TownConfig


@click.command("purge")
@click.option("--town", required=True, type=TownParam(), help="the town whose old snapshots are removed")
@click.option("--before", required=True, callback=parse_date, help="remove only snapshots extracted before YYYY-MM-DD")
@click.option("--dry-run", is_flag=True, help="show what would be removed, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def purge_command(town: TownConfig, before: dt.date, dry_run: bool, as_json: bool) -> None:
    """Remove snapshots older than --before and their feed's retention (resources/retention.yaml).

    Archived exports and their raw, valid and quarantined rows go; the snapshot in force stays.
    Every removal is recorded in the town's purge_log (see `kodomo audit`).
    """
    from kodomo_pipeline.privacy.services.retention import load_retention, purge

    try:
        policy = load_retention()
    except ConfigError as exc:
        raise click.UsageError(f"configuration error: {exc}") from None
    result = purge(town, data_root(), before, dry_run=dry_run, policy=policy)
    summary = result.as_dict()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    verb = "would remove" if dry_run else "removed"
    click.echo(
        f"{town.town}: {verb} {len(result.purged)} snapshot(s) older than {before} and their retention "
        f"({summary['rows_removed']:,} rows, {summary['files_deleted']} archived file(s))"
    )
    for snap in result.purged:
        click.echo(
            f"  {snap.feed:<16}{snap.file_name:<34}{snap.extract_date}  keep {snap.retention_years} y  "
            f"rows raw/valid/quarantine {snap.rows_raw}/{snap.rows_valid}/{snap.rows_quarantine}"
        )
    for feed, name in result.kept_in_force.items():
        click.echo(f"  kept (in force) {feed:<16}{name}")
    for copy in result.files:  # inbox, out/, failed/, logs/, backtest copies (privacy/services/file_retention.py)
        click.echo(f"  {verb} copy {copy['kind']:<9}{copy['path']}  {copy['date']}  keep {copy['retention_years']} y")


@click.command("audit")
@click.option("--town", required=True, type=TownParam(), help="the town whose access and purge records are shown")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def audit_command(town: TownConfig, as_json: bool) -> None:
    """Show who accessed the town's personal data (when, what, why) and what was purged."""
    import duckdb

    from kodomo_pipeline.privacy.services.access_log import accesses_by_operator, read_access_log
    from kodomo_pipeline.privacy.services.retention import read_purge_log

    database = town.database(data_root())
    accesses, by_operator, purges = [], {}, []
    if database.exists():
        try:
            con = duckdb.connect(str(database), read_only=True)
        except duckdb.IOException:
            raise click.ClickException(f"{database.name} is in use by a run; try again when it has finished") from None
        with con:
            accesses = [record.as_dict() for record in read_access_log(con)]
            by_operator = accesses_by_operator(con)
            purges = read_purge_log(con)
    if as_json:
        report = {"town": town.town, "accesses": accesses, "accesses_by_operator": by_operator, "purges": purges}
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    click.echo(f"{town.town}: {len(accesses)} access(es) recorded, {len(purges)} purged snapshot(s)")
    for entry in accesses:
        click.echo(f"  {entry['accessed_at']}  {entry['operator']:<12}  {entry['what']}  — {entry['purpose']}")
    for entry in purges:
        click.echo(
            f"  purged {entry['purged_at']}  {entry['operator']:<12}  {entry['feed']:<16}{entry['file_name']}  "
            f"(before {entry['before_date']}, keep {entry['retention_years']} y)"
        )
