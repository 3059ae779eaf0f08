"""Prometheus metrics of one web node (its own registry, exposed on ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "WebMetrics"]


class WebMetrics:
    """The counters and gauges of a web node."""

    def sent(self, frame_type: str) -> Counter:
        """The frames-sent child of ``frame_type``, cached: looking a labelled child up
        costs more than the increment, and it runs once per frame per connection."""
        child = self._sent.get(frame_type)
        if child is None:
            child = self._sent[frame_type] = self.frames_sent.labels(frame_type)
        return child

    def __init__(self) -> None:
        self._sent: dict[str, Counter] = {}
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge(
            "govpulse_web_connections",
            "Open board websocket connections by scope kind.",
            ["scope"],
            registry=r,
        )
        self.frames_sent = Counter(
            "govpulse_web_frames_sent",
            "Frames sent to clients by frame type.",
            ["type"],
            registry=r,
        )
        self.feed_entries = Counter(
            "govpulse_web_feed_entries",
            "Entries read from board:feed.",
            registry=r,
        )
        self.deltas_dispatched = Counter(
            "govpulse_web_deltas_dispatched",
            "Delta frames queued to connections (one entry to N connections counts N).",
            registry=r,
        )
        self.slow_clients = Counter(
            "govpulse_web_slow_client_drops",
            "Connections whose queue overflowed, by the policy applied.",
            ["policy"],
            registry=r,
        )
        self.auth_failures = Counter(
            "govpulse_web_auth_failures",
            "Rejected authentications by reason class.",
            ["reason"],
            registry=r,
        )
        self.revoked_sessions = Counter(
            "govpulse_web_revoked_sessions",
            "Open sessions closed because their token was revoked.",
            registry=r,
        )
        self.revocation_check_failures = Counter(
            "govpulse_web_revocation_check_failures",
            "Checks of the open sessions' tokens that Redis did not answer (sessions kept).",
            registry=r,
        )
        self.commands = Counter(
            "govpulse_web_commands",
            "Client commands by type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.snapshots = Counter(
            "govpulse_web_snapshots",
            "Snapshots sent by reason.",
            ["reason"],
            registry=r,
        )
        self.replays = Counter(
            "govpulse_web_replayed_deltas",
            "Deltas replayed to reconnecting clients.",
            registry=r,
        )
        self.feed_lag = Gauge(
            "govpulse_web_feed_lag_seconds",
            "Age of the last feed entry when this node read it (0 when caught up).",
            registry=r,
        )
        self.redis_up = Gauge("govpulse_web_redis_up", "1 when Redis answers, else 0.", registry=r)
        self.worker_age = Gauge(
            "govpulse_web_worker_age_seconds",
            "Seconds since the freshest worker beat (-1 when none).",
            registry=r,
        )
        self.groups = Gauge(
            "govpulse_web_groups",
            "Fan-out groups (connections that see the same deltas) with members.",
            registry=r,
        )
        self.group_members = Gauge(
            "govpulse_web_group_members",
            "Connections written to with their group (the others catch up on their own).",
            registry=r,
        )
        self.write_pass = Gauge(
            "govpulse_web_write_pass_seconds",
            "How long the last write of live deltas to every connection took.",
            registry=r,
        )
        self.group_joins = Counter(
            "govpulse_web_group_joins",
            "Connections that joined their fan-out group (after a sync or catching up).",
            registry=r,
        )
        self.group_leaves = Counter(
            "govpulse_web_group_leaves",
            "Connections that left their fan-out group, by reason (sync, slow, epoch).",
            ["reason"],
            registry=r,
        )
        self.epoch_changes = Counter(
            "govpulse_web_epoch_changes",
            "Times the board epoch changed under this node.",
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
