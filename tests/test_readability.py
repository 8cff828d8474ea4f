"""Readability rules: every quoted sentence stands on its own (real sentences from the libraries)."""

from __future__ import annotations

import pytest

from kb.answering.readability import announces, has_markdown, leans_back, plain, violations

FERPA = ("The [Federal Education Rights Privacy Act (FERPA)][16] protects the privacy of student education "
         "records.")
TWO_ACTIONS = ("Two federal actions shape K-12 cybersecurity planning in the mid-2020s. The first is CISA's "
               "January 2023 report, Protecting Our Future. The second is the Federal Communications Commission's "
               "Schools and Libraries Cybersecurity Pilot Program, adopted on June 6, 2024.")


def test_markdown_reference_and_inline_links_become_plain_text() -> None:
    assert plain(FERPA) == ("The Federal Education Rights Privacy Act (FERPA) protects the privacy of student "
                            "education records.")
    assert plain("One of them is the [OneRoster protocol][2], which allows applications to be provided roster "
                 "data.") == "One of them is the OneRoster protocol, which allows applications to be provided roster data."
    assert plain("See the [Ed-Fi playbook](https://edfi.org/playbook.pdf) and **plan early**.") == \
        "See the Ed-Fi playbook and plan early."
    assert plain("The platform is _IMS Global_ today.") == "The platform is IMS Global today."
    assert plain("Districts in Burke County (K-12) paid $5,000 each.") == \
        "Districts in Burke County (K-12) paid $5,000 each."  # ordinary brackets and figures stay


def test_markdown_is_detected() -> None:
    assert has_markdown(FERPA)
    assert has_markdown("Read: [Cybersecurity in K-12](https://example.org)")
    assert not has_markdown(plain(FERPA))
    assert not has_markdown("Budget 40% for devices (not staff) in 2024-25.")


@pytest.mark.parametrize("sentence", [
    "This brief summarises both in plain language and lists free or low-cost resources.",
    "These include the Cybersecurity and Infrastructure Security Agency's free services.",
    "It also requires vendors to notify the district within 72 hours.",
    "They must be reviewed at least annually by the incident response team.",
    "Such a policy usually contains a statement of management commitment.",
    "The first is CISA's January 2023 report, Protecting Our Future.",
    "However, this approach leaves the district without an offline copy.",
    "Both are funded from the same Category Two budget.",
    "During this phase, the team checks whether other laptops carry the same malware.",
    "For these reasons, the district keeps one backup copy offline.",
    "In this case the district must notify the families within 30 days.",
    "At that point, the superintendent decides whether to call the insurer.",
    "With this in mind, the board approved a larger Category Two request.",
    "1. In addition to these, staff need yearly phishing training.",
])
def test_sentences_that_lean_back(sentence: str) -> None:
    assert leans_back(sentence)


@pytest.mark.parametrize("sentence", [
    "It is important to test restores from backup at least once a quarter.",
    "It is recommended that organizations review the policy every year.",
    "The district should remove access on the employee's last day.",
    "Thin clients reduce the number of devices that need patching.",
    "Thereafter the board reviews the plan every spring.",
    "In this guide, the department describes five steps for a device refresh.",
    "In this publication, NIST recommends role-based training for every employee.",
    "During the preparation phase, the team writes the incident response plan.",
    "In 2023, CISA published a report on K-12 cybersecurity.",
    "In thin-client labs, one image serves every seat.",
])
def test_sentences_that_stand_alone(sentence: str) -> None:
    assert not leans_back(sentence)


@pytest.mark.parametrize("sentence", [
    "Two federal actions shape K-12 cybersecurity planning in the mid-2020s.",
    "The report makes three recommendations to K-12 leaders.",
    "An incident response policy typically includes the following:",
    "Category Two covers:",
    "There are four phases in the incident response life cycle.",
    # a pointer to what comes further on, anywhere in the sentence (NIST SP 800-61's attack vectors)
    "The attack vectors listed below are not intended to provide definitive classification for incidents; rather, "
    "they simply list common methods of attack, which can be used as a basis for defining more specific handling "
    "procedures.",
    "The following steps illustrate how an organization could use the Framework to create a new cybersecurity program.",
    "The key recommendations presented in this section for handling incidents are summarized below.",
    "Note: the following steps illustrate how a district could build its first incident response plan.",
])
def test_sentences_that_announce_items(sentence: str) -> None:
    assert announces(sentence)


@pytest.mark.parametrize("sentence", [
    "The report makes three recommendations: invest in the most impactful steps, recognize and actively address "
    "resource constraints, and focus on collaboration.",
    "Backups should be restored in a test at least once a quarter.",
    "Two-factor prompts reduce account takeover.",
    # the items are given after the colon, or "the following" is a time
    "The incident response plan should include the following elements: Mission; Strategies and goals; Senior "
    "management approval.",
    "Training is defined in NIST Special Publication 800-16 as follows: the level that strives to produce relevant "
    "skills.",
    "The district renewed the contract the following year.",
    "Devices bought in one budget year are refreshed the following school year.",
])
def test_sentences_that_do_not_announce(sentence: str) -> None:
    assert not announces(sentence)


def test_violations_of_a_cut_up_answer_and_of_its_repair() -> None:
    source = TWO_ACTIONS
    first, rest = "Two federal actions shape K-12 cybersecurity planning in the mid-2020s.", TWO_ACTIONS.split(". ", 1)[1]
    # the announcement alone, then an unrelated sentence
    bad = violations([(first, [source]), ("Districts should enable MFA for all staff accounts.", ["other"])])
    assert any(v.startswith("announces items") for v in bad)
    # the ordinal sentence without the one it refers to
    bad = violations([("The first is CISA's January 2023 report, Protecting Our Future.", [source])])
    assert any(v.startswith("unresolved reference") for v in bad)
    # the announcement with its items in one quote, or followed by them: no violation
    assert violations([(TWO_ACTIONS, [source])]) == []
    assert violations([(first, [source]), (rest, [source])]) == []
    assert violations([(FERPA, [FERPA])]) == ["markdown: " + FERPA[:60]]


def test_list_item_needs_its_lead_in() -> None:
    source = ("An incident response policy usually contains:\n- Statement of management commitment\n"
              "- Purpose and objectives of the policy\n- Prioritization or severity ratings of incidents")
    item = "Prioritization or severity ratings of incidents"
    assert violations([(item, [source])]) == ["list item without its lead-in: " + item]
    lead_in = "An incident response policy usually contains:"
    assert violations([(lead_in, [source]), ("Statement of management commitment", [source])]) == []
    assert violations([(lead_in + " Purpose and objectives of the policy; " + item, [source])]) == []
