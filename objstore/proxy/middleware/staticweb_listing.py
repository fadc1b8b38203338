"""The HTML page staticweb shows for a (pseudo-)directory without an index.

The page's structure is stable, so a site's style sheet
(``X-Container-Meta-Web-Listings-CSS``) can rely on it, as Swift's users'
style sheets do: ``h1#title``, ``table#listing``, ``tr#heading`` with
``th.colname``, ``th.colsize``, ``th.coldate``, ``tr#parent`` (the
``../`` row, below the top), and a ``tr.item`` per entry: ``subdir`` for
pseudo-directories, ``type-<major> type-<minor>`` of its Content-Type
for objects. Every name is HTML-escaped in text and URL-quoted in links,
and links are relative to the page, so the site works under any host
name or path prefix.
"""
from __future__ import annotations

import html
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any, Final

DEFAULT_STYLE: Final = """  <style type="text/css">
   h1 {font-size: 1em; font-weight: bold;}
   th {text-align: left; padding: 0px 1em 0px 1em;}
   td {padding: 0px 1em 0px 1em;}
   a {text-decoration: none;}
  </style>
"""
_UNITS: Final = "KMGTPEZY"


def human_size(size: int) -> str:
    """A byte count as clients of listings expect it: ``512``, ``2Ki``, ``15Mi``
    (powers of 1024, rounded to whole units)."""
    value = float(size)
    unit = -1
    while value >= 1024 and unit + 1 < len(_UNITS):
        value = round(value / 1024)
        unit += 1
    return f"{int(value)}" if unit < 0 else f"{int(value)}{_UNITS[unit]}i"


def _href(relative: str) -> str:
    # a name starting with "/" would leave the site: anchor it to this page
    quoted = urllib.parse.quote(relative)
    return "./" + quoted if relative.startswith("/") else quoted


def css_href(css: str, prefix: str) -> str:
    """A style sheet's link from a page ``prefix`` deep: as given when
    absolute, else relative to the container."""
    if css.startswith(("/", "http://", "https://")):
        return urllib.parse.quote(css, safe="/:")
    return "../" * prefix.count("/") + urllib.parse.quote(css)


def _row(classes: str, name_cell: str, size: str, date: str) -> str:
    return (f'   <tr class="{classes}">\n'
            f'    <td class="colname">{name_cell}</td>\n'
            f'    <td class="colsize">{size}</td>\n'
            f'    <td class="coldate">{date}</td>\n'
            "   </tr>\n")


def _type_classes(content_type: str) -> str:
    kind = content_type.split(";", 1)[0].strip().lower()
    return " ".join("type-" + html.escape(part, quote=True)
                    for part in kind.split("/") if part)


def _date(last_modified: str) -> str:
    return html.escape(last_modified.split(".", 1)[0].replace("T", " "))


def render(items: Iterable[Mapping[str, Any]], title: str, prefix: str, css: str = "") -> bytes:
    """The page for a JSON delimiter listing's ``items`` under ``prefix``
    (names shown relative to it), titled ``Listing of <title>``."""
    items = list(items)
    style = (f'  <link rel="stylesheet" type="text/css" href="{css_href(css, prefix)}" />\n'
             if css else DEFAULT_STYLE)
    heading = html.escape(title)
    parts = ['<!DOCTYPE html>\n<html>\n <head>\n  <meta charset="UTF-8">\n',
             f"  <title>Listing of {heading}</title>\n", style,
             " </head>\n <body>\n",
             f'  <h1 id="title">Listing of {heading}</h1>\n',
             '  <table id="listing">\n   <tr id="heading">\n'
             '    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n'
             '    <th class="coldate">Date</th>\n   </tr>\n']
    if prefix:
        parts.append('   <tr id="parent" class="item">\n'
                     '    <td class="colname"><a href="../">../</a></td>\n'
                     '    <td class="colsize">&nbsp;</td>\n'
                     '    <td class="coldate">&nbsp;</td>\n   </tr>\n')
    for item in items:
        if "subdir" in item:
            name = str(item["subdir"])[len(prefix):]
            parts.append(_row("item subdir",
                              f'<a href="{_href(name)}">{html.escape(name)}</a>',
                              "&nbsp;", "&nbsp;"))
    for item in items:
        if "name" in item:
            name = str(item["name"])[len(prefix):]
            classes = " ".join(filter(None, ("item", _type_classes(
                str(item.get("content_type", ""))))))
            parts.append(_row(classes, f'<a href="{_href(name)}">{html.escape(name)}</a>',
                              human_size(int(item.get("bytes", 0))),
                              _date(str(item.get("last_modified", "")))))
    parts.append("  </table>\n </body>\n</html>\n")
    return "".join(parts).encode("utf-8")
