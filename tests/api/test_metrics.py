"""The API node's Prometheus metrics (api.metrics): its own registry and every series."""

from __future__ import annotations

from api.metrics import ApiMetrics


def test_every_series_is_exposed_with_its_labels() -> None:
    metrics = ApiMetrics()
    metrics.accepted("portal-1022", accepted=100, duplicates=3)
    metrics.accepted("ward", accepted=0, duplicates=0)
    metrics.refusals.labels("422").inc()
    metrics.ack_seconds.observe(0.004)

    text = metrics.render().decode()

    assert 'govpulse_api_events_total{key="portal-1022",outcome="accepted"} 100.0' in text
    assert 'govpulse_api_events_total{key="portal-1022",outcome="duplicate"} 3.0' in text
    assert 'key="ward"' not in text  # nothing counted, no series
    assert 'govpulse_api_refusals_total{status="422"} 1.0' in text
    assert 'govpulse_api_ack_seconds_bucket{le="0.005"} 1.0' in text
    assert "govpulse_web" not in ApiMetrics().render().decode()  # not the default registry
