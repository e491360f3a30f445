"""Model files rendered from the configuration: a model that repeats per feed (unknown_residents) is a Jinja
template, so the list of feeds stays owned by the feed contracts (assets/<feed>.yaml) and is never re-typed.

Every model file goes through Jinja when the models load; a plain SQL file renders to itself. What runs, what
sqlglot reads for dependencies and lineage, and what the Dagster asset shows is the rendered SQL. Shared
expressions stay DuckDB macros (sqlmodels/macros.py) and parameters DuckDB variables: Jinja only where the SQL
itself must follow the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import jinja2

from kodomo_pipeline.config.feeds import FeedSpec

# SQL, not HTML: nothing is escaped; an unknown name in a template is an error, never an empty string.
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


@dataclass(frozen=True)
class PersonReference:
    """A feed column that names a registry person (`type: resident_id`) or household (`references: household`)."""

    feed: str
    column: str
    kind: Literal["resident", "household"]


def person_references(feeds: Mapping[str, FeedSpec]) -> list[PersonReference]:
    """Every column of the feed contracts that names a registry person or household, in contract order."""
    found = []
    for feed, spec in feeds.items():
        for column, col in spec.columns.items():
            kind = "resident" if col.type == "resident_id" else col.references
            if kind:
                found.append(PersonReference(feed, column, kind))
    return found


def template_context(feeds: Mapping[str, FeedSpec]) -> dict[str, object]:
    """The names a model template may use: `person_references` (list of PersonReference)."""
    return {"person_references": person_references(feeds)}


def render_model(text: str, context: Mapping[str, object]) -> str:
    """The SQL of one model file (raises jinja2.TemplateError for a broken template or an unknown name)."""
    return _ENV.from_string(text).render(context)
