"""Every quoted sentence stands on its own, and a multi-part answer names the part it cannot answer.

Real sentences from the k12docs corpus (NIST SP 800-61, a district budgeting guide, a PD needs
survey) and from the starter library (the FERPA brief), cut the way chunking cuts them.
"""

from __future__ import annotations

import pytest

from kb.answering.compose_plan import keep_readable
from kb.answering.extractive import ExtractiveComposer
from kb.answering.multipart import Part, merge_answers
from kb.answering.readability import violations
from kb.answering.retrieval import Passage
from kb.answering.sentences import passage_sentences
from kb.answering.shapes import Shape, carries_answer
from kb.core.answer import Answer, Citation, Claim
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder


def _passage(n: int | str, text: str, score: float = 0.7, title: str = "Doc") -> Passage:
    chunk = Chunk(id=f"c{n}", doc_id=f"d{n}", index=0, text=text, title=f"{title} {n}", source=f"/lib/{n}.md",
                  source_type="md", date="2024-05-01")
    return Passage(chunk, score, dense=score)


def _compose(question: str, texts: list[str]) -> tuple[list[Claim], list[str]]:
    passages = [_passage(i, t, 0.8 - 0.1 * i) for i, t in enumerate(texts)]
    draft = ExtractiveComposer(HashEmbedder()).compose(question, passages)
    claims = draft.lead + draft.points
    return claims, violations([(c.text, [texts[s] for s in c.sources]) for c in claims])


NIST_PLAN = ("- Performance measures (as discussed in Section 3.4.2)\n"
             "- Reporting and contact forms.\n"
             "2.3.2 Plan Elements Organizations should have a formal, focused, and coordinated approach to responding "
             "to incidents, including an incident response plan that provides the roadmap for implementing the "
             "incident response capability.\n"
             "The incident response plan should include the following elements:\n"
             "- Mission\n- Strategies and goals\n- Senior management approval\n"
             "- Organizational approach to incident response\n"
             "- How the incident response team will communicate with the rest of the organization and with other "
             "organizations\n"
             "- Metrics for measuring the incident response capability and its effectiveness")


def test_a_plain_line_after_a_list_item_starts_new_text_and_introduces_the_next_list() -> None:
    sentences = passage_sentences(NIST_PLAN)
    lead_in = next(s for s in sentences if "the following elements:" in s.text)
    assert lead_in.item is None  # not a continuation of "Reporting and contact forms."
    assert lead_in.joined and "Mission; Strategies and goals" in lead_in.text  # its short items came with it
    assert all(s.lead_in == lead_in.position for s in sentences[lead_in.position + 1:])
    claims, problems = _compose("What metrics show how our incident response team is performing?", [NIST_PLAN])
    assert problems == []
    texts = [c.text for c in claims]
    if any(t.startswith("Metrics for measuring") for t in texts):
        assert any(t.endswith("the following elements:") or "the following elements:" in t for t in texts)


BUDGET_CUT = ("The second phase is to identify the costs to keep the equipment you have running.\n"
              "This includes the following: Ink, toner, and paper for copy machines; Projector bulbs; Required "
              "software upgrades; Replacement parts for computers (and a buffer for unexpected replacements)\n"
              "Once July 1 rolls around, you're free to start spending on the new school year's projects!")
BUDGET_FIRST = ("Typically this process will begin in the spring of each year once the state releases yearly "
                "planning allotments.\n"
                "The first phase in your budget is to identify all of the recurring expenses you have, as these "
                "costs are non-negotiable.\nThese include:\n"
                "- Personnel and staffing for the technology department\n"
                "- Internet connectivity (for public schools, paid for by the state)\n"
                "- Telephone services\n- Maintenance agreements")


def test_a_sentence_leaning_on_text_before_the_passage_is_never_quoted_nor_pulled_in() -> None:
    sentences = passage_sentences(BUDGET_CUT)
    assert not sentences[0].usable  # "The second phase..." starts the chunk: its antecedent is not there
    assert not sentences[1].usable  # "This includes..." would need it
    claims, problems = _compose("What costs keep the equipment we have running?", [BUDGET_CUT])
    assert problems == []
    assert not any(c.text.startswith(("The second phase", "This includes")) for c in claims)


def test_a_lead_in_that_leans_back_stays_right_after_what_it_refers_to() -> None:
    claims, problems = _compose("Which recurring expenses are non-negotiable in the technology budget?",
                                [BUDGET_FIRST, BUDGET_CUT])
    assert problems == []
    texts = [c.text for c in claims]
    if "These include:" in texts:
        before = texts[texts.index("These include:") - 1]
        assert before.endswith("as these costs are non-negotiable.")


def test_a_form_line_with_blanks_is_not_a_sentence() -> None:
    form = ("Rank or Grade: __ Date of Current Assignment (mm/yy): __ Job Title and Duties at the school.\n"
            "Teachers rated their confidence with each classroom technology tool on a five-point scale.")
    sentences = passage_sentences(form)
    assert [s.usable for s in sentences] == [False, True]


FERPA_WHOLE = ("- FERPA is enforced by the Department of Education's Student Privacy Policy Office, and FERPA itself "
               "contains no explicit breach notification requirement, although state laws often do.\n\n"
               "IT decisions that follow from FERPA: use a signed agreement that establishes direct control for every "
               "vendor receiving student records, share the minimum data fields needed through rostering, restrict "
               "SIS access by role, and log access to sensitive records.")
FERPA_CUT = ("FERPA generally requires written parental consent before a district discloses personally identifiable "
             "information from education records, unless an exception applies.\n"
             "FERPA is enforced by the Department of Education's Student Privacy Policy Office, and FERPA itself "
             "contains no explicit breach notification requirement, although state laws often do.\n"
             "IT decisions that follow from FERPA:")


@pytest.mark.parametrize("texts", [[FERPA_CUT], [FERPA_CUT, FERPA_WHOLE], [FERPA_WHOLE]])
def test_an_announcement_is_never_quoted_without_its_items(texts: list[str]) -> None:
    claims, problems = _compose("Does FERPA let teachers share student grades over Gmail in our Google Workspace?",
                                texts)
    assert claims and problems == []
    assert all(c.sources for c in claims)  # every quoted claim carries its citation
    assert not any(c.text.rstrip().endswith("IT decisions that follow from FERPA:") for c in claims)


def test_keep_readable_drops_what_lost_its_lead_in_or_its_items() -> None:
    source = BUDGET_FIRST
    claims = [Claim("Typically this process will begin in the spring of each year once the state releases yearly "
                    "planning allotments.", [0]),
              Claim("These include:", [0], kind="lead-in"),  # its antecedent was dropped as a repeat
              Claim("Personnel and staffing for the technology department", [0])]
    kept = keep_readable(claims, lambda n: source)
    assert [c.text for c in kept] == [claims[0].text]
    whole = [claims[0], Claim("The first phase in your budget is to identify all of the recurring expenses you have, "
                              "as these costs are non-negotiable.", [0]), *claims[1:]]
    assert keep_readable(whole, lambda n: source) == whole


def test_carries_answer_wants_the_figure_a_how_much_question_asks_for() -> None:
    assert carries_answer(Shape.AMOUNT, ["The FCC adopted the Cybersecurity Pilot Program on June 6, 2024, as a "
                                         "three-year pilot with a total budget of up to $200 million."])
    assert not carries_answer(Shape.AMOUNT, ["Call the cyber insurance carrier's claims or breach hotline first, "
                                             "because many policies only pay for forensic firms and lawyers that the "
                                             "carrier has approved."])
    assert carries_answer(Shape.WHEN, ["The FTC set April 22, 2026 as the general compliance date."])
    assert not carries_answer(Shape.WHEN, ["Ransomware is malicious software that encrypts a district's files."])
    assert carries_answer(Shape.GENERAL, ["Ransomware is malicious software that encrypts a district's files."])


RANSOM = [("Decide in advance, with the superintendent, board counsel, and insurer, the district's position on ransom "
           "payment, so that the question is not first debated under pressure.", "cyber-ransomware-preparedness.md"),
          ("MFA protects email, remote access, and all administrator accounts.", "cyber-ransomware-preparedness.md")]
COST_BORROWED = [("Call the cyber insurance carrier's claims or breach hotline first, because many policies only pay "
                  "for forensic firms and lawyers that the carrier has approved.", "cyber-ransomware-preparedness.md")]
COST_FOUND = [("The FCC adopted the Cybersecurity Pilot Program on June 6, 2024, as a three-year pilot with a total "
               "budget of up to $200 million.", "cyber-federal-k12-recommendations.md")]


def _answer(quotes: list[tuple[str, str]]) -> Answer:
    claims = [Claim(text, [n]) for n, (text, _) in enumerate(quotes, start=1)]
    citations = [Citation(n=n, doc_id=source, chunk_id=f"{source}#{n}", title=source, source=source, page=None,
                          section=None, date="2026-11-28", snippet=text, score=0.7)
                 for n, (text, source) in enumerate(quotes, start=1)]
    return Answer(question="q", standalone_question="q", text="", citations=citations, areas=["cybersecurity"],
                  abstained=False, claims=claims, evidence=0.9)


PARTS = [Part("What should we protect first against ransomware?", "What should we protect first against ransomware?"),
         Part("How much will it cost?", "What should we protect first against ransomware?: How much will it cost?")]


def test_a_how_much_part_answered_only_by_its_borrowed_subject_is_named_as_not_covered() -> None:
    merged = merge_answers(PARTS, [_answer(RANSOM), _answer(COST_BORROWED)], max_chars=1500)
    assert not merged.abstained
    assert "Not covered by the library:** How much will it cost?" in merged.text
    assert "Call the cyber insurance carrier" not in merged.text
    assert [c.text for c in merged.claims] == [text for text, _ in RANSOM]
    assert len(merged.text) <= 1500


def test_a_how_much_part_with_a_figure_is_answered() -> None:
    merged = merge_answers(PARTS, [_answer(RANSOM), _answer(COST_FOUND)], max_chars=1500)
    assert "$200 million" in merged.text and "Not covered" not in merged.text
    assert [c.sources for c in merged.claims] == [[1], [2], [3]]


def test_no_part_covered_makes_the_merged_answer_abstain() -> None:
    merged = merge_answers(PARTS[1:], [_answer(COST_BORROWED)], max_chars=1500)
    assert merged.abstained and not merged.claims


@pytest.mark.slow
def test_multi_part_question_over_the_library_says_the_cost_part_is_not_covered(library_assistant) -> None:  # type: ignore[no-untyped-def]
    answer = library_assistant.ask("What should we protect first against ransomware and how much will it cost?",
                                   audit=False)
    assert not answer.abstained
    assert answer.text.startswith("What should we protect first against ransomware?")
    assert "Not covered by the library:** How much will it cost?" in answer.text
    pairs = [(c.text, [cit.snippet for n in c.sources if (cit := answer.cited(n))]) for c in answer.claims]
    assert violations(pairs) == []
    assert len(answer.text) <= 1500


def test_passage_relevance_follows_the_retrievers_fused_ranking() -> None:
    import numpy as np

    from kb.answering.extractive import _passage_relevance

    bm25_winner = _passage("1", "Form 471 is the application a district files to request E-Rate funding for the "
                                "services it chose.", 0.9)
    bm25_winner.dense = 0.40
    close_in_meaning = _passage("2", "Districts apply each winter for discounts on connectivity.", 0.5)
    close_in_meaning.dense = 0.60
    question = np.zeros(8, dtype=np.float32)
    fused = _passage_relevance([bm25_winner, close_in_meaning], question)
    assert fused[0] > fused[1]  # the retriever put it first: its sentences are not ranked below the other's
    assert fused == pytest.approx([0.5 * 0.40 + 0.5 * 0.60, 0.5 * 0.60 + 0.5 * 0.60 * 0.5 / 0.9])
    assert _passage_relevance([bm25_winner, close_in_meaning], question, fused=False) == pytest.approx([0.40, 0.60])
    bm25_winner.score = -1.0  # a score that is not a positive scale: each passage's own cosine
    assert _passage_relevance([bm25_winner, close_in_meaning], question) == pytest.approx([0.40, 0.60])


# A table as the Markdown loader writes it ("cell | cell"), from the Samberg professional-learning guide.
JOYCE_SHOWERS = ("Joyce and Showers measured the percentage of teachers who demonstrated knowledge and skills at the "
                 "end of a professional development experience, and then the percentage of teachers who applied "
                 "their skills in their professional practice. Their results are summarized below:\n"
                 "Training Component | Demonstrated Knowledge | Demonstrated Skills | Applied in Practice\n"
                 "Theory and Discussion | 10% | 5% | 0%\n"
                 "Above plus Demonstration | 30% | 20% | 0%\n"
                 "Above plus practice and feedback | 60% | 60% | 5%\n"
                 "Above plus coaching in classroom after training | 95% | 95% | 95%\n"
                 "{:.table.table-bordered.table-striped} | | |")
E_RATE_TABLE_CUT = ("50%-74% | 80% | 80% | 80% | 80%\n75%-100% | 90% | 90% | 85% | 85%")


def test_a_table_row_is_quoted_with_its_header_row() -> None:
    sentences = passage_sentences(JOYCE_SHOWERS)
    rows = [s for s in sentences if s.row]
    assert [s.text for s in rows][-1] == ("Training Component: Above plus coaching in classroom after training; "
                                          "Demonstrated Knowledge: 95%; Demonstrated Skills: 95%; "
                                          "Applied in Practice: 95%.")
    assert len(rows) == 4 and all(s.usable for s in rows)  # the header and the attribute line are not rows
    assert not any("|" in s.text or "{:" in s.text for s in sentences)
    claims, problems = _compose("Does adding classroom coaching after training change how many teachers apply it?",
                                [JOYCE_SHOWERS])
    assert problems == []
    assert any("coaching in classroom after training" in c.text and "95%" in c.text for c in claims)


def test_rows_cut_from_their_header_are_not_quoted() -> None:
    sentences = passage_sentences(E_RATE_TABLE_CUT)  # the chunk starts inside the table: no header to name the cells
    assert sentences and not any(s.usable or s.row for s in sentences)


CEDS_RESPONSIBILITY = ("There are several ways an organization can be responsible for a student:\n"
                       "- Accountability.\nThe organization is responsible for student learning under federal "
                       "Elementary and Secondary Education Act and state accountability plans.\n"
                       "- Attendance.\nThe organization operates the physical or virtual site in which delivery of "
                       "educational services take place.\n"
                       "- Funding.\nThe organization is responsible for funding related to a student's enrollment.")
NIST_CRISIS = ("This serves as a basic reference of what to do for someone who is faced with a crisis.\n"
               "1. Document everything.\nThis effort includes every action that is performed, every piece of "
               "evidence, and every conversation with users, system owners, and others regarding the incident.\n"
               "2. Find a coworker who can provide assistance.")


def test_a_list_item_opening_with_a_short_label_is_quoted_with_its_explanation() -> None:
    items = [s for s in passage_sentences(CEDS_RESPONSIBILITY) if s.item is not None]
    assert [s.text.split(".")[0] for s in items] == ["Accountability", "Attendance", "Funding"]
    assert all(s.usable for s in items)
    assert items[1].text == ("Attendance. The organization operates the physical or virtual site in which delivery "
                             "of educational services take place.")
    crisis = passage_sentences(NIST_CRISIS)
    first = next(s for s in crisis if s.text.startswith("Document everything."))
    assert first.usable and first.numbered and "This effort includes every action" in first.text
    claims, problems = _compose("In what ways can a district be responsible for an enrolled student?",
                                [CEDS_RESPONSIBILITY])
    assert problems == []
    assert any(c.text.startswith("Attendance. The organization operates") for c in claims)


def test_a_spreadsheet_row_that_names_its_own_cells_is_quoted_as_it_stands() -> None:
    """Ingest writes each spreadsheet row as "Column: value | Column: value." (a self-describing line): its first
    row is not a header, and every row is quotable with the figures a question asks for."""
    rows = ("Cart: Cart 12 | Building: Lincoln Elementary | Devices: 30 Chromebooks | Purchased: 2022.\n"
            "Cart: Cart 13 | Building: Harbor View Middle | Devices: 24 Windows laptops | Purchased: 2020.")
    texts = [s.text for s in passage_sentences(rows)]
    assert "Cart: Cart 12 | Building: Lincoln Elementary | Devices: 30 Chromebooks | Purchased: 2022." in texts
    assert "Cart: Cart 13 | Building: Harbor View Middle | Devices: 24 Windows laptops | Purchased: 2020." in texts
