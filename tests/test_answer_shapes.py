"""Question shapes, the layout they get, and multi-part questions (real sentences from the libraries)."""

from __future__ import annotations

import pytest

from kb.answering.extractive import ExtractiveComposer
from kb.answering.multipart import split_question
from kb.answering.readability import violations
from kb.answering.retrieval import Passage
from kb.answering.shapes import Shape, compare_sides, question_shape, shape_fit
from kb.core.answer import Draft
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder


@pytest.mark.parametrize(("question", "shape"), [
    ("What is Category Two in E-Rate?", Shape.DEFINE),
    ("What does FERPA stand for?", Shape.DEFINE),
    ("How do we run a tabletop exercise for ransomware?", Shape.STEPS),
    ("When an employee quits, how do we make sure they lose access to everything?", Shape.STEPS),
    ("Our board wants to cut the cybersecurity budget. What should we protect first against ransomware?",
     Shape.PRIORITY),
    ("Which controls matter most for cyber insurance?", Shape.PRIORITY),
    ("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?", Shape.COMPARE),
    ("What is the difference between LTI and OneRoster?", Shape.COMPARE),
    ("How much of that can E-Rate pay for?", Shape.AMOUNT),
    ("What percentage discount do high-poverty districts get?", Shape.AMOUNT),
    ("How long should we keep laptops before replacing them?", Shape.DURATION),
    ("How often should we revisit the incident response plan?", Shape.DURATION),
    ("When did the amended COPPA rule take effect?", Shape.WHEN),
    ("Who should approve the incident response policy?", Shape.WHO),
    ("Tell me about digital equity surveys.", Shape.GENERAL),
])
def test_question_shapes(question: str, shape: Shape) -> None:
    assert question_shape(question).shape is shape


def test_compare_sides() -> None:
    assert compare_sides("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?") == ("Cat 1", "Cat 2")
    assert compare_sides("What is the difference between LTI and OneRoster?") == ("LTI", "OneRoster")


def test_shape_fit_prefers_the_sentence_carrying_what_is_asked() -> None:
    amount = "Discounts range from 20% to 90% of the cost of eligible services."
    prose = "E-Rate supports connectivity for schools and libraries."
    assert shape_fit(Shape.AMOUNT, amount) > shape_fit(Shape.AMOUNT, prose)
    assert shape_fit(Shape.WHEN, "The rule took effect on June 23, 2025.") > shape_fit(Shape.WHEN, prose)
    assert shape_fit(Shape.DURATION, "Laptops are replaced every four to five years.") > shape_fit(Shape.DURATION, prose)
    assert shape_fit(Shape.WHO, "The superintendent approves the policy.") > shape_fit(Shape.WHO, prose)
    assert shape_fit(Shape.DEFINE, "Ransomware is a type of malware that encrypts files.") == 1.0
    assert shape_fit(Shape.STEPS, "Disable the account on the last day.", item=True) > shape_fit(Shape.STEPS, prose)


def _passage(n: int, text: str, score: float, title: str = "Doc") -> Passage:
    chunk = Chunk(id=f"c{n}", doc_id=f"d{n}", index=0, text=text, title=f"{title} {n}", source=f"/lib/{n}.md",
                  source_type="md", date="2024-05-01")
    return Passage(chunk, score, dense=score)


STEPS = ("When a staff member leaves, IT should follow a written offboarding checklist:\n"
         "1. Disable the directory account on the last working day.\n"
         "2. Revoke single sign-on sessions and remove the person from every group.\n"
         "3. Transfer ownership of shared files to the manager before deleting the account.\n"
         "4. Collect the laptop, badge and any tokens, and record their return.")
OTHER = ("Password policies should require long passphrases. This reduces the number of reset requests. "
         "The [Federal Education Rights Privacy Act (FERPA)][16] protects student records.")


def _text(draft: Draft) -> list[str]:
    return [c.text for c in draft.lead + draft.points]


def test_steps_come_as_a_numbered_list_under_their_lead_in() -> None:
    draft = ExtractiveComposer(HashEmbedder()).compose(
        "How do we make sure a leaving employee loses access?", [_passage(1, STEPS, 0.8), _passage(2, OTHER, 0.3)])
    claims = draft.lead + draft.points
    texts = [c.text for c in claims]
    steps = [c for c in claims if c.kind == "step"]
    assert len(steps) >= 3
    order = [texts.index(c.text) for c in steps]
    assert order == sorted(order)  # in the source's order
    lead_in = texts.index("When a staff member leaves, IT should follow a written offboarding checklist:")
    assert lead_in < order[0]
    pairs = [(c.text, [STEPS if 0 in c.sources else OTHER]) for c in claims]
    assert violations(pairs) == []


def test_markdown_and_dangling_references_never_reach_the_answer() -> None:
    draft = ExtractiveComposer(HashEmbedder()).compose(
        "What does FERPA protect and how do passphrases reduce resets?", [_passage(1, OTHER, 0.8)])
    texts = _text(draft)
    assert any("Federal Education Rights Privacy Act (FERPA) protects" in t for t in texts)
    assert not any("][" in t for t in texts)
    for t in texts:  # "This reduces..." only ever comes right after the sentence it refers to
        assert not t.startswith("This reduces")


def test_compare_leads_with_both_sides_each_cited() -> None:
    one = _passage(1, "Category One covers connectivity to the school, such as internet access and wide area "
                      "network circuits.", 0.6, "E-Rate")
    two = _passage(2, "Category Two covers internal connections inside the building, such as Wi-Fi access points, "
                      "switches and their licences.", 0.6, "E-Rate")
    draft = ExtractiveComposer(HashEmbedder()).compose("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?",
                                                       [one, two])
    assert len(draft.lead) == 2
    assert {tuple(c.sources) for c in draft.lead} == {(0,), (1,)}
    assert draft.lead[0].text.startswith("Category One")


def test_amount_question_leads_with_the_figure() -> None:
    text = ("E-Rate helps schools pay for broadband and networks. Discounts range from 20% to 90% of the cost of "
            "eligible services, depending on poverty and rural status. Applications are filed each winter.")
    draft = ExtractiveComposer(HashEmbedder()).compose("How much of the cost can E-Rate pay for?", [_passage(1, text, 0.7)])
    assert "20% to 90%" in draft.lead[0].text


def test_multi_part_questions_split_into_standalone_parts() -> None:
    parts = split_question("What should we protect first against ransomware and how much will it cost?")
    assert [p.asked for p in parts] == ["What should we protect first against ransomware?", "How much will it cost?"]
    assert "ransomware" in parts[1].standalone  # the leaning part borrows the first part's subject
    parts = split_question("What is E-Rate? Who approves the district technology plan and its budget each spring?")
    assert [p.standalone for p in parts] == [  # a part that names its own subject is asked as it is
        "What is E-Rate?", "Who approves the district technology plan and its budget each spring?"]
    parts = split_question("How much money was in the FCC's cybersecurity pilot and how many applicants got picked?")
    assert parts[1].standalone.startswith("How much money was in the FCC's cybersecurity pilot")
    context = split_question("Our board wants to cut the budget. What should we protect first?")
    assert len(context) == 1  # statements before one question are not a second question
    for single in ["What are the pros and cons of 1:1 devices?", "Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?",
                   "When an employee quits, how do we make sure they lose access to everything?"]:
        assert len(split_question(single)) == 1
