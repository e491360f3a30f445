"""Command-line parameters shared by every `kodomo` command."""

from __future__ import annotations

import datetime as dt

import click

from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.towns import TownConfig, load_towns


class TownParam(click.ParamType):
    """A configured town, checked when the command runs (the configuration may be elsewhere: KODOMO_CONFIG)."""

    name = "town"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> TownConfig:
        if isinstance(value, TownConfig):
            return value
        try:
            towns = load_towns()
        except ConfigError as exc:
            self.fail(f"configuration error: {exc}", param, ctx)
        if value not in towns:
            self.fail(f"{value!r} is not one of {', '.join(repr(t) for t in sorted(towns))}", param, ctx)
        return towns[str(value)]


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None
