"""Offset pagination shared by every list: the headers of a page."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import request

from src.database import Page


def link_header(total: int, limit: int, offset: int) -> str:
    """RFC 8288 ``Link`` header value with first, prev, next and last as they apply."""
    last_offset = max((total - 1) // limit * limit, 0)
    links = {"first": 0}
    if offset > 0:
        links["prev"] = max(min(offset - limit, last_offset), 0)
    if offset + limit < total:
        links["next"] = offset + limit
    links["last"] = last_offset
    # The request's URL once, from its parts: werkzeug recomputes base_url on every
    # access, and a page's links differ only in their offset.
    req = request._get_current_object()  # type: ignore[attr-defined]
    base = f"{req.scheme}://{req.host}{req.root_path}{quote(req.path)}"
    others = [(k, v) for k, v in req.args.items(multi=True) if k not in ("limit", "offset")]
    prefix = f"{base}?{urlencode(others)}&" if others else f"{base}?"
    return ", ".join(f'<{prefix}limit={limit}&offset={o}>; rel="{rel}"' for rel, o in links.items())


def pagination_headers(page: Page) -> dict[str, str]:
    """The ``X-Total-Count`` and ``Link`` headers of a page."""
    return {
        "X-Total-Count": str(page.total),
        "Link": link_header(page.total, page.limit, page.offset),
    }
