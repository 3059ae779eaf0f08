"""domain/ is pure: importing all of it pulls in no broker, Redis, websocket or HTTP client."""

from __future__ import annotations

from tests.support.purity import io_libraries_loaded, modules


def test_every_domain_module_imports_without_io_libraries() -> None:
    assert {
        "domain.calendar",
        "domain.catalog",
        "domain.durations",
        "domain.encoding",
        "domain.errors",
        "domain.events",
        "domain.ids",
        "domain.items",
        "domain.sketch",
        "domain.sla",
        "domain.windows",
    } <= set(modules("domain"))
    assert io_libraries_loaded("domain") == []
