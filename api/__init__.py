"""The HTTP ingest API (``govpulse api``): REST ``/api/v1`` and an Open311 GeoReport v2 front door.

A FastAPI application served by uvicorn, its own process (docs/api.md says why). Pure
parts: :mod:`api.ingest` (admission of a POST body), :mod:`api.keys` (key records and
scopes), :mod:`api.open311` (the GeoReport mapping), :mod:`api.problems` (RFC 9457
bodies). Shells: :mod:`api.app` (routes), :mod:`api.sender` (Kafka, acks=all),
:mod:`api.store` (Redis: keys, idempotency, board reads), :mod:`api.metrics`
(Prometheus), :mod:`api.server` (uvicorn).
"""
