"""RFC 9457 problem details: the body of every refusal of the API.

``type`` is a URN naming the problem (documented in docs/api.md), ``title`` is fixed per
type, ``detail`` says what was wrong with this request and how to fix it. Refusals of
single events add ``errors``: ``[{"index", "event_id", "reason"}]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from api.ingest import Refusal

MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: ("bad-request", "The request is malformed"),
    401: ("unauthorized", "An API key is required"),
    403: ("forbidden", "The API key may not do this"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "The method is not allowed here"),
    409: ("conflict", "Conflicting event ids"),
    413: ("too-large", "The request body is too large"),
    415: ("unsupported-media-type", "The body must be JSON"),
    422: ("invalid-events", "The events are not valid"),
    429: ("rate-limited", "Too many requests for this API key"),
    503: ("unavailable", "A service the API needs is unavailable"),
}


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[Refusal] = (),
    instance: str | None = None,
    slug: str | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """A problem details object for ``status``.

    Args:
        status: the HTTP status.
        detail: what was wrong with this request and how to fix it.
        errors: the refused events, if the problem is about some of them.
        instance: the request path.
        slug: overrides the type's last part (e.g. ``in-flight`` for a 409 on events
            still being produced).
        title: overrides the type's title.
    """
    default_slug, default_title = TITLES.get(status, ("error", "The request failed"))
    body: dict[str, Any] = {
        "type": f"urn:govpulse:problem:{slug or default_slug}",
        "title": title or default_title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if errors:
        body["errors"] = [refusal.to_json() for refusal in errors]
    return body
