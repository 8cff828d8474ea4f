"""A follow-up borrows the earlier question, not the scene its asker set (issue #14).

"How much of that can E-Rate pay for?" after "Our board wants to cut the cybersecurity budget. What should we
protect first against ransomware?" asks what E-Rate pays for in protecting against ransomware. Carried whole, the
scene's "board" and "budget" pulled the board-spending brief into the answer.
"""

from __future__ import annotations

import pytest

from kb.answering.conversation import standalone_question

FIRST = "Our board wants to cut the cybersecurity budget. What should we protect first against ransomware?"
FOLLOW_UP = "How much of that can E-Rate pay for?"


def test_the_follow_up_keeps_the_question_and_the_scene_words_of_its_topic_only() -> None:
    standalone = standalone_question(FOLLOW_UP, [FIRST])
    assert standalone == f"Cybersecurity. What should we protect first against ransomware? {FOLLOW_UP}"
    assert "board" not in standalone.lower() and "budget" not in standalone.lower()


@pytest.mark.parametrize(("history", "question"), [
    # the asked question names no challenge area: the scene holds the topic (classlink, rostering, SSO)
    (["we're moving to classlink for rostering + SSO over the summer, 6 schools, one SIS. what should we do first?"],
     "and what do we do about subs and student teachers in all that?"),
    # the scene asks a question itself: it may hold the subject
    (["Should we flip on MFA for all employees the same day, or stage it? Who goes first?"],
     "And the little ones, like first and second graders?"),
])
def test_a_scene_that_holds_the_topic_is_carried_whole(history: list[str], question: str) -> None:
    assert standalone_question(question, history) == f"{history[0]} {question}"


def test_a_turn_without_a_scene_and_a_standalone_question_are_unchanged() -> None:
    first = "What's the current federal micro-purchase limit for grant-funded buys?"
    assert standalone_question("What if our state's bid threshold is lower than that?", [first]) == (
        f"{first} What if our state's bid threshold is lower than that?")
    assert standalone_question("How do we run a tabletop exercise for ransomware?", [FIRST]) == (
        "How do we run a tabletop exercise for ransomware?")


def test_the_e_rate_follow_up_on_the_starter_library_answers_from_e_rate_not_the_board_brief(library_assistant) -> None:  # type: ignore[no-untyped-def]
    """With the real model over the starter library: the answer opens on what E-Rate pays for, cited to the E-Rate
    brief, and no longer cites the board-spending brief the scene's words pulled in."""
    answer = library_assistant.ask(FOLLOW_UP, history=[FIRST], audit=False, log_gap=False)
    assert not answer.abstained and len(answer.text) <= library_assistant.settings.max_answer_chars
    titles = [c.title for c in answer.citations]
    assert not any("board" in t.lower() for t in titles)
    assert answer.cited(answer.claims[0].sources[0]).title.startswith("E-Rate basics")
    assert any("E-Rate" in c.text and ("pays" in c.text or "funds" in c.text) for c in answer.claims)
