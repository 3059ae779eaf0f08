"""Alert rules and the alert lifecycle, as pure functions of data and ``now``.

Item transitions and unit status go in (:mod:`alerts.rules` turns them into
:class:`~alerts.model.Signal`), alert events come out (:mod:`alerts.lifecycle`: dedup,
escalation, acknowledgement, explanations, silences, reminders). Thresholds live in the
rules file (:mod:`alerts.config`, ``alerts/data/rules.toml``); titles and texts in
Vietnamese and English come from :mod:`alerts.texts`. Nothing here does I/O besides
reading the rules file, and nothing imports Faust, Kafka, Redis or websockets.
"""
