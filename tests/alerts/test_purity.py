"""alerts/ is pure: importing all of it pulls in no broker, Redis, websocket or HTTP client."""

from __future__ import annotations

from tests.support.purity import io_libraries_loaded, modules


def test_every_alerts_module_imports_without_io_libraries() -> None:
    assert {
        "alerts.config",
        "alerts.errors",
        "alerts.lifecycle",
        "alerts.model",
        "alerts.rules",
        "alerts.texts",
    } <= set(modules("alerts"))
    assert io_libraries_loaded("alerts") == []
