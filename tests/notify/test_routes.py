"""The routes file: the tree, inheritance, matching, and every mistake refused with its line."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.model import AlertEventType, RuleName, Severity
from domain.catalog import Catalog
from domain.errors import ConfigError
from notify.model import labels_of
from notify.routes import load_routes, parse_routes, routes_at
from runtime.settings import load_settings
from tests.notify.conftest import CITY, ROOT, WARD, alert, event
from tests.support.hypothesis_profile import fuzz

SECRET = "whsec_GFabdz+tBu2/T+AFWloSzS5gctk2ixgjvgMnmkun33s="
HOOK = f"""
[receivers.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secrets = ["{SECRET}"]
"""

TREE = """
[route]
receiver = "ops"
group_wait = "10s"

[[route.routes]]
receiver = "units"
match = { audience = "unit" }
continue = true

[[route.routes]]
match = { rule = ["item_overdue"] }
min_severity = "critical"
receiver = "leaders"
group_by = ["unit", "rule"]

  [[route.routes.routes]]
  match = { unit_kind = "city" }
  receiver = "ops"
  active_hours = "always"

[[route.routes]]
receiver = "leaders"
match = { event = "explained" }
""" + "".join(
    f'\n[receivers.{name}]\ntype = "webhook"\nurl = "http://127.0.0.1:9/{name}"\nsecrets = ["{SECRET}"]\n'
    for name in ("ops", "units", "leaders")
)


def test_packaged_routes_file_loads(catalog: Catalog) -> None:
    config = load_routes(load_settings({}).routes_file)
    assert set(config.receivers) == {"leaders-push", "units-push"}
    assert routes_at(config, "route.routes.3.routes.1").active_hours == "always"


def test_children_inherit_what_they_do_not_set() -> None:
    config = parse_routes(TREE)
    child = routes_at(config, "route.routes.2")
    assert (child.group_wait, child.group_by, child.active_hours) == (10.0, ("unit", "rule"), "office")
    grandchild = routes_at(config, "route.routes.2.routes.1")
    assert (grandchild.group_by, grandchild.receiver, grandchild.active_hours) == (
        ("unit", "rule"),
        "ops",
        "always",
    )


@pytest.mark.parametrize(
    ("kind", "changes", "expected"),
    [
        # audience "unit" matches with continue, then the critical overdue route also matches
        (AlertEventType.OPENED, {"severity": Severity.CRITICAL}, ["route.routes.1", "route.routes.2"]),
        # not critical: only the unit route (continue) and nothing else matched -> units only
        (AlertEventType.OPENED, {}, ["route.routes.1"]),
        # no unit in the audience, warning: the root takes it
        (AlertEventType.OPENED, {"audience": ("leaders",)}, ["route"]),
        # city unit, critical, leaders only: the nested child
        (
            AlertEventType.OPENED,
            {"severity": Severity.CRITICAL, "unit": CITY, "audience": ("leaders",)},
            ["route.routes.2.routes.1"],
        ),
        (AlertEventType.EXPLAINED, {"audience": ("leaders",)}, ["route.routes.3"]),
    ],
)
def test_an_event_walks_the_tree_like_alertmanager(
    catalog: Catalog, kind: AlertEventType, changes: dict[str, object], expected: list[str]
) -> None:
    config = parse_routes(TREE)
    labels = labels_of(event(kind, alert("NV-1", **changes)), catalog)  # type: ignore[arg-type]
    assert [r.path for r in config.routes_for(labels)] == expected


def test_min_escalation_and_rule_matchers(catalog: Catalog) -> None:
    config = parse_routes(
        '[route]\nreceiver = "hook"\n[[route.routes]]\nmin_escalation = 2\n'
        'match = { rule = "item_overdue" }\n' + HOOK
    )
    low = labels_of(event(AlertEventType.ESCALATED, alert("NV-1", escalation=1)), catalog)
    high = labels_of(event(AlertEventType.ESCALATED, alert("NV-1", escalation=2)), catalog)
    other = labels_of(
        event(AlertEventType.OPENED, alert(WARD, rule=RuleName.UNIT_SURGE, escalation=3)), catalog
    )
    assert [r.path for r in config.routes_for(low)] == ["route"]
    assert [r.path for r in config.routes_for(high)] == ["route.routes.1"]
    assert [r.path for r in config.routes_for(other)] == ["route"]


BASE = '[route]\nreceiver = "hook"\ngroup_wait = "1s"\n' + HOOK


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            BASE.replace('group_wait = "1s"', 'group_wait = "soon"'),
            "routes file {path}: line 3: [route] group_wait: = 'soon' is not a duration; "
            'write group_wait = "30s" (or "5m", "4h")',
        ),
        (
            BASE.replace('group_wait = "1s"', 'grup_wait = "1s"'),
            "routes file {path}: line 3: [route] grup_wait: is not a known key; use one of: receiver, match, "
            "min_severity, min_escalation, group_by, group_wait, group_interval, repeat_interval, "
            "active_hours, continue, routes",
        ),
        (
            BASE.replace('receiver = "hook"', 'receiver = "hoook"'),
            "routes file {path}: line 2: [route] receiver: = 'hoook' is not a receiver of this file; "
            "use one of: hook (or add [receivers.hoook])",
        ),
        (
            BASE.replace('group_wait = "1s"', '[[route.routes]]\nmatch = { rulez = "x" }'),
            "routes file {path}: line 4: [route.routes.1] match: names 'rulez', not a label; "
            "match on any of: rule, severity, unit, unit_kind, escalation, audience, event, fingerprint",
        ),
        (
            BASE.replace('group_wait = "1s"', 'group_wait = "1s'),
            "routes file {path}: syntax: Illegal character '\\n' (at line 3, column 17); "
            "write valid TOML (https://toml.io)",
        ),
        (
            BASE.replace(SECRET, "short"),
            "routes file {path}: line 8: [receivers.hook] secrets: a secret is not base64 of at least "
            "24 bytes; make one with: python -c "
            "\"import base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\"",
        ),
        (
            BASE.replace('type = "webhook"', 'type = "sms"'),
            "routes file {path}: line 6: [receivers.hook] type: = 'sms' is not a receiver type; "
            'write type = "webhook" (or email, webpush)',
        ),
        (
            BASE.replace('group_wait = "1s"', 'active_hours = "night"'),
            "routes file {path}: line 3: [route] active_hours: = 'night' is not allowed; "
            'write active_hours = "office" (non-critical waits for office hours) or "always"',
        ),
        (
            BASE.replace('group_wait = "1s"', '[[route.routes]]\nmin_severity = "loud"'),
            "routes file {path}: line 4: [route.routes.1] min_severity: = 'loud' is not a severity; "
            'use "info", "warning" or "critical"',
        ),
    ],
)
def test_a_bad_routes_file_is_refused_with_its_line_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "routes.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_routes(path)
    assert str(caught.value) == message.format(path=path)


def test_nested_and_repeated_tables_are_found_by_their_line() -> None:
    text = (
        '[route]\nreceiver = "hook"\n\n[[route.routes]]\nreceiver = "hook"\n\n  [[route.routes.routes]]\n'
        '  group_wait = "1s"\n\n[[route.routes]]\nreceiver = "hook"\n\n  [[route.routes.routes]]\n'
        '  group_wait = "1s"\n\n  [[route.routes.routes]]\n  group_wait = "bad"\n' + HOOK
    )
    with pytest.raises(ConfigError) as caught:
        parse_routes(text)
    assert str(caught.value).startswith("routes: line 17: [route.routes.2.routes.2] group_wait: = 'bad'")


def test_a_missing_routes_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes file .*missing.toml: path: .*check GOVPULSE_ROUTES_FILE"):
        load_routes(tmp_path / "missing.toml")


def test_secrets_may_come_from_a_file_next_to_the_routes(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(SECRET + "\n", encoding="utf-8")
    path = tmp_path / "routes.toml"
    path.write_text(BASE.replace(f'secrets = ["{SECRET}"]', 'secrets_file = "hook.secret"'), encoding="utf-8")
    assert load_routes(path).receivers["hook"].options["secrets"] == (SECRET,)


@fuzz(150)
@given(st.text(max_size=300))
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_routes(text)


@fuzz(150)
@given(
    st.dictionaries(
        st.sampled_from(
            ["receiver", "match", "group_by", "group_wait", "continue", "routes", "active_hours", "x"]
        ),
        st.one_of(
            st.text(max_size=10), st.integers(), st.booleans(), st.lists(st.text(max_size=5), max_size=3)
        ),
        max_size=5,
    )
)
def test_any_route_table_is_a_config_or_a_config_error(table: dict[str, object]) -> None:
    import tomllib

    lines = ["[route]"]
    for key, value in table.items():
        lines.append(f"{key} = {_toml(value)}")
    text = "\n".join(lines) + "\n" + HOOK
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    with contextlib.suppress(ConfigError):
        parse_routes(text)


def _toml(value: object) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def test_the_docs_show_the_packaged_file_and_a_fuller_example_that_loads(tmp_path: Path) -> None:
    doc = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    packaged = (ROOT / "notify" / "data" / "routes.toml").read_text(encoding="utf-8")
    assert f"```toml\n{packaged}```" in doc
    fuller = doc.split("### A fuller example", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    for name in ("ops-webhook", "smtp"):
        (tmp_path / name).write_text(SECRET + "\n", encoding="utf-8")
    fuller = fuller.replace("/run/secrets/", f"{tmp_path}/")
    config = parse_routes(fuller, path=tmp_path / "routes.toml")
    assert set(config.receivers) == {"city-ops", "sms-gateway", "leaders-mail", "leaders-push"}
    assert [k.kind for k in config.receivers.values()] == ["webhook", "webhook", "email", "webpush"]
