"""Which function serves the current request: one lookup, kept with the request.

The authorization hooks read a view's marks from it (``src.auth.access``), and the
error handlers how the view reports its errors (``src.error_handling``).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request

_UNSET = object()


def current_handler() -> Any:
    """The view function of this request, or its ``MethodView`` method (``HEAD`` is
    served by ``get``, as Flask does); ``None`` for an unknown route."""
    req = request._get_current_object()  # type: ignore[attr-defined]
    handler = getattr(req, "registrar_handler", _UNSET)
    if handler is _UNSET:
        handler = req.registrar_handler = _lookup(req)
    return handler


def _lookup(req: Any) -> Any:
    view = current_app.view_functions.get(req.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return view
    method = req.method.lower()
    if method == "head" and not hasattr(view_class, "head"):
        method = "get"
    return getattr(view_class, method, None)
