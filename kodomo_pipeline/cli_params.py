"""Command-line parameters shared by every `kodomo` command."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
import click.shell_completion

from kodomo_pipeline.config.errors import ConfigError
from kodomo_pipeline.config.towns import TownConfig, load_towns

# Codes of the argument errors (exit code 2), listed in the README: operators quote them when they call.
E_CONFIG = "KD-E01"  # the configuration cannot be read
E_TOWN = "KD-E02"  # a town the configuration does not have
E_DATE = "KD-E03"  # a date that cannot be read


class TownParam(click.ParamType):
    """A configured town, checked when the command runs (the configuration may be elsewhere: KODOMO_CONFIG)."""

    name = "town"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        """The configured towns as the choices shown in --help (just TOWN if the configuration cannot be read)."""
        return "[" + "|".join(town_choices()) + "]" if town_choices() else "TOWN"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        return [click.shell_completion.CompletionItem(t) for t in town_choices() if t.startswith(incomplete)]

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> TownConfig:
        if isinstance(value, TownConfig):
            return value
        try:
            towns = load_towns()
        except ConfigError as exc:
            self.fail(f"[{E_CONFIG}] 設定ファイルの誤り / configuration error: {exc}", param, ctx)
        if value not in towns:
            known = ", ".join(sorted(towns))
            message = f"[{E_TOWN}] 町 {value!r} は設定にありません（{known}）/ {value!r} is not one of {known}"
            self.fail(message, param, ctx)
        return towns[str(value)]


def town_choices() -> list[str]:
    """The towns of the configuration in force, for help and completion."""
    try:
        return sorted(load_towns())
    except ConfigError:
        return []


DATE_FORMS = "YYYY-MM-DD または和暦 (R8.11.26 / 令和8年11月26日) / ISO or 和暦"


def parse_date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    """A date given as ISO or as staff write it (和暦 letter or kanji form), as decision files accept."""
    from kodomo_pipeline.layout.values import ValueUnreadable, parse_typed_date
    from kodomo_pipeline.layout.wareki import WarekiError

    if value is None:
        return None
    try:
        return parse_typed_date(value)
    except (ValueUnreadable, WarekiError):
        raise click.BadParameter(f"[{E_DATE}] 日付として読めません。{DATE_FORMS} で指定してください") from None


FC = TypeVar("FC", bound=Callable[..., object])

FOLDER = click.Path(file_okay=False, path_type=Path)  # a folder the command writes to (made when missing)
EXISTING_FOLDER = click.Path(file_okay=False, exists=True, path_type=Path)  # a folder the command reads
FILE = click.Path(dir_okay=False, path_type=Path)  # a file the command writes
EXISTING_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)  # a file the command reads


def generator_options(truth_help: str) -> Callable[[FC], FC]:
    """The options both generator commands take: --population, --seed, --truth (its help says where the command
    writes truth) and --noise, the presets noise_presets.yaml defines (read there, not re-typed)."""
    from kodomo_pipeline.generator.presets import preset_names

    options = [
        click.option(
            "--population", type=click.IntRange(min=100), default=None, help="residents (default: the town's)"
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--truth", "truth_dir", type=FOLDER, default=None, help=truth_help),
        click.option(
            "--noise",
            type=click.Choice(preset_names()),
            default="default",
            show_default=True,
            help="名寄せの難しさ: noise preset of generator/noise_presets.yaml (changed surnames, kana names, 外字 …)",
        ),
    ]

    def decorate(command: FC) -> FC:
        for option in reversed(options):  # as if written one above the other, in this order
            command = option(command)
        return command

    return decorate
