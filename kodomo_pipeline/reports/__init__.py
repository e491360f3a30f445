"""Self-contained HTML pages people keep: rule matrix, lineage, explanations, privacy report, 名寄せ review …

One Jinja environment for them all, autoescaping on (values in a town's data must never become markup) and
strict about missing names (a typo in a template fails loudly instead of printing an empty cell).
"""

from __future__ import annotations

import jinja2

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("kodomo_pipeline", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
)


def render_template(name: str, **context: object) -> str:
    """Render `kodomo_pipeline/templates/<name>` with the given names."""
    return _TEMPLATES.get_template(name).render(**context)
