"""A web node's Prometheus metrics: its own registry, every series named once."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from web.metrics import CONTENT_TYPE_LATEST, WebMetrics

NAMES = {
    "govpulse_web_connections",
    "govpulse_web_frames_sent",
    "govpulse_web_feed_entries",
    "govpulse_web_deltas_dispatched",
    "govpulse_web_slow_client_drops",
    "govpulse_web_auth_failures",
    "govpulse_web_revoked_sessions",
    "govpulse_web_revocation_check_failures",
    "govpulse_web_commands",
    "govpulse_web_snapshots",
    "govpulse_web_replayed_deltas",
    "govpulse_web_feed_lag_seconds",
    "govpulse_web_redis_up",
    "govpulse_web_worker_age_seconds",
    "govpulse_web_epoch_changes",
    "govpulse_web_groups",
    "govpulse_web_group_members",
    "govpulse_web_group_joins",
    "govpulse_web_group_leaves",
    "govpulse_web_write_pass_seconds",
}


def families(metrics: WebMetrics) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    out: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        out[family.name] = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    return out


def test_every_metric_is_exposed_in_the_text_format() -> None:
    exposed = set(families(WebMetrics()))
    # prometheus-client also exposes a ``*_created`` timestamp per counter; the parser
    # reads those of unlabelled counters as families of their own.
    assert {name for name in exposed if not name.endswith("_created")} == NAMES
    assert CONTENT_TYPE_LATEST.startswith("text/plain; version=")


def test_two_nodes_in_one_process_do_not_share_a_registry() -> None:
    first, second = WebMetrics(), WebMetrics()
    first.feed_entries.inc(3)

    assert families(first)["govpulse_web_feed_entries"][("govpulse_web_feed_entries_total", ())] == 3.0
    assert families(second)["govpulse_web_feed_entries"][("govpulse_web_feed_entries_total", ())] == 0.0


def test_sent_caches_one_child_per_frame_type() -> None:
    metrics = WebMetrics()
    delta = metrics.sent("delta")

    assert metrics.sent("delta") is delta
    delta.inc()
    metrics.sent("heartbeat").inc(2)
    sent = families(metrics)["govpulse_web_frames_sent"]
    assert sent[("govpulse_web_frames_sent_total", (("type", "delta"),))] == 1.0
    assert sent[("govpulse_web_frames_sent_total", (("type", "heartbeat"),))] == 2.0
