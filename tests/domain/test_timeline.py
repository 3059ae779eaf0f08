"""Item timeline entries: every transition in order, both clocks, events and time."""

from __future__ import annotations

from domain.timeline import entries
from tests.support.timelines import BT, SG, at, captured_history, history


def test_every_transition_has_an_entry_keyed_by_its_sequence_number() -> None:
    item, entries = history()
    assert [seq for seq, _ in entries] == list(range(1, item.seq + 1))
    assert [entry["kind"] for _, entry in entries] == [
        "received",
        "transferred",
        "extended",
        "due_soon",
        "overdue",
        "paused",
        "resumed",
        "escalated",  # four working hours overdue, counted after the resume
        "resolved",
    ]


def test_events_carry_their_fields_and_time_driven_entries_say_so() -> None:
    _, entries = history()
    by_kind = {entry["kind"]: entry for _, entry in entries}
    transfer = by_kind["transferred"]
    assert (transfer["by"], transfer["unit"], transfer["from_unit"]) == ("event", SG, BT)
    assert transfer["event"]["note"] == "Đúng địa bàn"
    assert (transfer["event"]["work_mode"], transfer["event"]["assignee"]) == ("home", "cb-0042")
    assert by_kind["overdue"]["by"] == "time" and "event" not in by_kind["overdue"]
    assert by_kind["extended"]["event"]["due_at"] == at("2026-03-12 17:00")
    assert by_kind["received"]["event"]["title"] == "Rác <b>"  # text stays text


def test_state_keeps_both_clocks_original_and_current_due_pauses_and_lateness() -> None:
    _, entries = history()
    by_kind = {entry["kind"]: entry for _, entry in entries}
    received = by_kind["received"]["state"]
    extended = by_kind["extended"]["state"]
    assert extended["original_due"] == received["original_due"] == received["current_due"]
    assert extended["current_due"] == at("2026-03-12 17:00")
    assert extended["unit_since"] == at("2026-03-02 10:00")  # the unit clock restarted at SG
    assert extended["received_at"] == at("2026-03-02 07:30")  # the citizen's clock did not
    assert by_kind["paused"]["state"]["paused_at"] == at("2026-03-13 10:00")
    assert by_kind["paused"]["state"]["overdue_at"] == at("2026-03-12 17:00")
    resolved = by_kind["resolved"]
    assert resolved["state"]["status"] == "resolved" and resolved["latency"] > 0
    assert resolved["state"]["assignee"] == "cb-0042" and resolved["state"]["work_mode"] == "home"


def test_entries_of_a_captured_message_are_those_of_the_item_at_that_moment() -> None:
    _, captured = captured_history()
    received = entries(captured[0])
    assert received[0][1]["state"]["unit"] == BT  # captured before the transfer changed it
