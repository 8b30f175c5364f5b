"""Offset pagination shared by every list: a page of rows plus its headers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from flask import request
from sqlalchemy import RowMapping

from src.services import PagedQuery, execute


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


def pagination_headers(total: int, limit: int, offset: int) -> dict[str, str]:
    """The ``X-Total-Count`` and ``Link`` headers of a page."""
    return {"X-Total-Count": str(total), "Link": link_header(total, limit, offset)}


def paginate(
    query: PagedQuery,
    args: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    total: int | None = None,
) -> tuple[list[RowMapping], dict[str, str]]:
    """Run ``query`` with ``params`` for one page; return its rows and headers.

    ``total``, when the caller already knows it, saves counting. Otherwise at most
    two statements: the page, and the count unless the page shows where the list ends.
    """
    limit, offset = args["limit"], args["offset"]
    if total is not None and offset >= total:
        return [], pagination_headers(total, limit, offset)
    page = {**(params or {}), "limit": limit, "offset": offset}
    rows = execute(query.page, page).mappings().all()
    if total is None:
        if 0 < len(rows) < limit or (not rows and offset == 0):
            total = offset + len(rows)
        else:
            total = execute(query.count, params).scalar_one()
    return rows, pagination_headers(total, limit, offset)
