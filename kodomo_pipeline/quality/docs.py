"""Great Expectations Data Docs that work on a closed network (LGWAN): every asset local, no http(s) reference.

GX 1.24 pages link bootstrap, jQuery, popper, bootstrap-table, datepicker, font-awesome, vega and a logo
from CDNs; offline the pages are unstyled and the index shows no list (STACK_NOTES.md). The same files,
byte for byte (their SHA-384 equal GX's `integrity` attributes), ship in `quality/static/` and are copied
into the site; each page's CDN references are rewritten to relative paths after GX writes it.
Vega is only used by expectation types we never run (they would draw values), so its scripts are removed;
so is the optional dark theme. Links out to GX's website keep their text and lose their target.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

STATIC = Path(__file__).with_name("static")
VENDOR = "static/vendor"  # where the local copies live inside a Data Docs site

# CDN URL (as GX 1.24 writes it) → the local file under static/vendor/, or None: drop the reference.
CDN_FILES: dict[str, str | None] = {
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "css/bootstrap-table.min.css",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "css/bootstrap.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "css/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "css/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "css/bootstrap-datepicker.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": None,
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/fontawesome-all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": None,
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery-3.7.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "js/popper.min.js",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "js/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "js/bootstrap-table-filter-control.min.js"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "js/bootstrap-datepicker.min.js"
    ),
}
_GX_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
_LOGO = "static/images/logo-long.png"  # GX copies its images into every site

_SCRIPT = re.compile(r'<script\s+src="(https?://[^"]+)"[^>]*>\s*</script>\s*')
_STYLESHEET = re.compile(r'<link\s+rel="stylesheet"[^>]*?href="(https?://[^"]+)"[^>]*>\s*')
_GX_IMAGE = re.compile(re.escape(_GX_ASSETS) + r'[^"\')\s]*')
_EXTERNAL_LINK = re.compile(r'(<a\b[^>]*?)\s+href="https?://[^"]*"')
_ONLINE = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*https?://|url\(\s*["']?\s*https?://|@import\s+["']?https?://""", re.I
)
_ANY_URL = re.compile(r"https?://", re.I)


class MissingAssets(RuntimeError):
    """The vendored files are not installed (pyproject's package-data must list quality/static)."""


def install_assets(site: Path) -> None:
    """Copy the vendored CSS/JS/fonts (and their licences) into the site, when missing or changed."""
    target = site / VENDOR
    missing = [name for name in filter(None, CDN_FILES.values()) if not (STATIC / name).is_file()]
    if missing:
        raise MissingAssets(f"{STATIC} lacks {len(missing)} vendored file(s), e.g. {missing[0]}")
    for source in STATIC.rglob("*"):
        if not source.is_file():
            continue
        dest = target / source.relative_to(STATIC)
        if dest.exists() and filecmp.cmp(source, dest, shallow=False):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)


def _relative(site: Path, page: Path, target: str) -> str:
    return Path(os.path.relpath(site / target, page.parent)).as_posix()


def offline_html(html: str, site: Path, page: Path) -> str:
    """The page with every CDN asset pointing at the site's local copy and no link out."""

    def local(match: re.Match) -> str:
        url = match[1]
        if url not in CDN_FILES:  # a new GX version: left as is, counted by online_references()
            return match[0]
        file = CDN_FILES[url]
        if file is None:
            return ""
        path = _relative(site, page, f"{VENDOR}/{file}")
        if match.re is _SCRIPT:
            return f'<script src="{path}"></script>\n'
        return f'<link rel="stylesheet" href="{path}">\n'

    html = _SCRIPT.sub(local, html)
    html = _STYLESHEET.sub(local, html)
    html = _GX_IMAGE.sub(_relative(site, page, _LOGO), html)
    return _EXTERNAL_LINK.sub(r"\1", html)


def online_references(html: str) -> int:
    """How many http(s) URLs a page still has (assets or links); 0 for a page that works offline."""
    return len(_ANY_URL.findall(html))


def asset_references(html: str) -> int:
    """How many http(s) URLs a page would fetch (src, href, CSS url(), @import)."""
    return len(_ONLINE.findall(html))


def make_offline(site: Path, pages: Iterable[Path] | None = None) -> int:
    """Rewrite the given pages (default: every page of the site); returns http(s) URLs left (0 expected)."""
    install_assets(site)
    left = 0
    for page in pages if pages is not None else site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        fixed = offline_html(html, site, page)
        if fixed != html:
            page.write_text(fixed, encoding="utf-8")
        left += online_references(fixed)
    return left


def pages_written_since(site: Path, since_ns: int) -> list[Path]:
    """Pages GX (re)wrote in this build: the only ones that can hold fresh CDN references."""
    return [page for page in site.rglob("*.html") if page.stat().st_mtime_ns >= since_ns]
