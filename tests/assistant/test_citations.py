"""Citations of an answer (issue 13): markers naming a row of the grounding are kept and listed
in order of first use; invented ones are dropped from the text, tidily, and counted. Pure."""

from __future__ import annotations

from riskops.server.assistant.citations import resolve
from riskops.server.assistant.grounding import Citable

CITABLE = {
    c.key: c
    for c in (
        Citable("rule", "VEL-001", "VEL-001 Card velocity spike (1h)", "/alerts/7#rule-VEL-001"),
        Citable("signal", "velocity_1h", "Velocity 1h", "/alerts/7#signal-velocity_1h"),
        Citable("case", "CASE-000004", "CASE-000004 Review", "/cases/4"),
        Citable("flag", "retry_loop", "Risk flag retry_loop"),
    )
}


def test_known_citations_are_kept_in_order_of_first_use():
    text = (
        "It fired on velocity [signal:velocity_1h] and [rule:VEL-001]; see [case:CASE-000004]. "
        "Velocity again [signal:velocity_1h]."
    )

    out, cites, dropped = resolve(text, CITABLE)

    assert out == text
    assert dropped == 0
    assert cites == [
        {"kind": "signal", "ref": "velocity_1h", "label": "Velocity 1h",
         "url": "/alerts/7#signal-velocity_1h"},
        {"kind": "rule", "ref": "VEL-001", "label": "VEL-001 Card velocity spike (1h)",
         "url": "/alerts/7#rule-VEL-001"},
        {"kind": "case", "ref": "CASE-000004", "label": "CASE-000004 Review", "url": "/cases/4"},
    ]  # fmt: skip


def test_invented_citations_are_dropped_tidily_and_counted():
    text = (
        "Mainly [rule:VEL-001] and also [rule:NOPE-999] and [signal:made_up_signal].\n"
        "A made-up case [case:CASE-999999], a flag ([flag:retry_loop]) and ([alert:12])."
    )

    out, cites, dropped = resolve(text, CITABLE)

    assert out == (
        "Mainly [rule:VEL-001] and also and.\nA made-up case, a flag ([flag:retry_loop]) and."
    )
    assert dropped == 4
    assert [c["ref"] for c in cites] == ["VEL-001", "retry_loop"]
    assert cites[1]["url"] == ""


def test_a_bracketed_list_is_read_marker_by_marker():
    out, cites, dropped = resolve("See [rule:VEL-001, rule:NOPE, signal:velocity_1h].", CITABLE)

    assert out == "See [rule:VEL-001][signal:velocity_1h]."
    assert dropped == 1
    assert [c["kind"] for c in cites] == ["rule", "signal"]


def test_brackets_that_are_not_citations_and_empty_text_are_left_alone():
    text = "Placeholders <CUSTOMER_1> stay; [sic] and [1] and [Note: x] are not citations."

    assert resolve(text, CITABLE) == (text, [], 0)
    assert resolve("", CITABLE) == ("", [], 0)
