"""Prometheus metrics of one API node (its own registry, exposed on ``/api/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics"]


class ApiMetrics:
    """The counters of an API node. Labels are key names and HTTP statuses: both sets
    are small and chosen by the operator, never by a caller."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "govpulse_api_events",
            "Events of 202 answers by key and outcome (accepted: produced now; duplicate: a retry).",
            ["key", "outcome"],
            registry=r,
        )
        self.refusals = Counter(
            "govpulse_api_refusals",
            "Requests refused, by HTTP status.",
            ["status"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "govpulse_api_ack_seconds",
            "Seconds from the first send of a request's events to the broker's acknowledgement of all.",
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )

    def accepted(self, key: str, *, accepted: int, duplicates: int) -> None:
        if accepted:
            self.events.labels(key, "accepted").inc(accepted)
        if duplicates:
            self.events.labels(key, "duplicate").inc(duplicates)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
