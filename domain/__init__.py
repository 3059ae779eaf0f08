"""The domain: what govpulse knows about items, units, time and events, with no I/O.

The bottom floor. It imports no other package of govpulse and no I/O library (no Kafka,
Redis, websockets or Faust): the event contract (:mod:`domain.events`), the unit catalog
(:mod:`domain.catalog`), the working calendar (:mod:`domain.calendar`), service levels
(:mod:`domain.sla`), the item state machine (:mod:`domain.items`), counter windows
(:mod:`domain.windows`), the latency sketch (:mod:`domain.sketch`), durations, ids and
the root of the error tree (:mod:`domain.errors`). Its packaged data files (units,
calendar, SLA policy) are in ``domain/data``.
"""
