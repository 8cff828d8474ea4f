"""The answer's first sentence answers: no bare lead-in, section line, verbless fragment or question opens it.

Every sentence here is quoted from the starter library or the k12docs corpus (NIST SP 800-61, the
NICE framework, the CoSN and rostering briefs), as the composer meets them.
"""

from __future__ import annotations

import pytest

from kb.answering import compose_plan
from kb.answering.compose_plan import Plan, lead_score, plan_draft
from kb.answering.extractive import ExtractiveComposer, candidates
from kb.answering.readability import weak_opening
from kb.answering.retrieval import Passage
from kb.answering.sentences import passage_sentences
from kb.answering.shapes import QuestionShape, Shape
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder


@pytest.mark.parametrize(("sentence", "reason"), [
    ("The building blocks are:", "lead-in"),
    ("Useful PD includes:", "lead-in"),
    ("Other retention practices within a CTO's control:", "lead-in"),
    ("1.4 Document Structure The remainder of this document is organized into the following sections and "
     "appendices:", "section"),
    ("3.4.3 Evidence Retention Organizations should establish policy for how long evidence from an incident "
     "should be retained.", "section"),
    ("(Section 3.2.6) Containment, Eradication, and Recovery:", "section"),
    ("Section 3 reviews the basic incident handling steps and provides advice for performing incident handling "
     "more effectively, particularly incident detection and analysis.", "section"),
    ("Figure 2 - Building Blocks for a Capable and Ready Cybersecurity Workforce The circular arrows on the left "
     "side of Figure 2 show the cycle.", "section"),
    ("Percentage of applications using SSO with the district identity provider.", "fragment"),
    ("Number of manual data files exchanged each month, trending down.", "fragment"),
    ("6 An effective IT security awareness and training program can succeed only if the material used in the "
     "program is firmly based on agency IT security program policy.", "section"),
    ("What strategy should the organization take to contain the incident?", "question"),
    ("- Who in the district is accountable for the accuracy of enrollment and attendance data?", "question"),
])
def test_sentences_that_cannot_open_an_answer(sentence: str, reason: str) -> None:
    assert weak_opening(sentence, "How do we contain a ransomware incident?") == reason


@pytest.mark.parametrize("sentence", [
    "Local administrator passwords are unique per device.",
    "Access should be reviewed at least yearly, and accounts should be disabled promptly when staff leave or "
    "change roles, ideally automated from the HR system.",
    "Section 504 of the Rehabilitation Act requires districts to make technology accessible.",
    "Reasonable student uses depend on age, tool terms and district policy, and may include:",  # says something
    "Part of the E-Rate budget is reserved for internal connections.",
    "Analyze the evidence to confirm that an incident has occurred.",  # a step opens a steps answer
])
def test_sentences_that_may_open_an_answer(sentence: str) -> None:
    assert weak_opening(sentence, "How do we contain a ransomware incident?") is None


def test_a_question_may_open_when_the_user_asks_what_to_ask() -> None:
    line = "How does the vendor's support team connect remotely, and can that access be turned on only on request?"
    assert weak_opening(line, "What should we ask an HVAC vendor about remote access?") is None
    assert weak_opening(line, "Is always-on vendor remote access ok?") == "question"


def _passage(n: int, text: str, title: str) -> Passage:
    chunk = Chunk(id=f"c{n}", doc_id=f"d{n}", index=n, text=text, title=title, source=f"/lib/{n}.md",
                  source_type="md", date="2026-11-28")
    return Passage(chunk, 0.6, dense=0.6)


# NIST SP 800-61 r2: the document-structure list (section 1.4) and the incident handling checklist (3.2)
STRUCTURE = ("1.4 Document Structure The remainder of this document is organized into the following sections and "
             "appendices:\n"
             "- Section 2 discusses the need for incident response, outlines possible incident response team "
             "structures, and highlights other groups within an organization that may participate in incident "
             "handling.\n"
             "- Section 3 reviews the basic incident handling steps and provides advice for performing incident "
             "handling more effectively, particularly incident detection and analysis.")
STEPS = ("3. Analyze the evidence to confirm that an incident has occurred.\n"
         "Perform additional research as necessary (e.g., Internet search engines, software documentation) to "
         "better understand the evidence.\n"
         "Reach out to other technical professionals within the organization for additional help.\n"
         "4. Notify the appropriate people within the organization.\n"
         "5. Notify US-CERT and/or other external organizations for assistance in dealing with the incident.\n"
         "6. Stop the incident if it is still in progress.")  # Appendix G, Crisis Handling Steps
QUESTION = "I think we've been hacked. What are the basic steps I should take right now?"


# NIST SP 800-181: a section heading run into its first sentence where the body's start is not sure ("A Task"),
# so the line is quoted whole (kb.answering.glued_headings)
RETENTION = ("2.1.5 Tasks A Task is a specific defined piece of work that, combined with other identified Tasks, "
             "composes the work in a specific work role.")


def _plan_with_scores(lead_gap: float, opening: str = RETENTION) -> tuple[Plan, list]:  # type: ignore[type-arg]
    """A NIST passage and the crisis steps as seeds, the passage's line opening best by ``lead_gap`` over a step."""
    passages = [_passage(0, opening, "NIST SP 800-61"), _passage(1, STEPS, "NIST SP 800-61")]
    structures = [passage_sentences(p.chunk.text) for p in passages]
    seeds = [c for c in candidates(passages, structures)
             if c.text.startswith(("2.1.5", "Section 3")) or "Analyze" in c.text]
    for c in seeds:
        c.similarity = 0.6 if c.passage == 0 else 0.6 - lead_gap / 0.6
    plan = Plan(passages=passages, structures=structures, shape=QuestionShape(Shape.GENERAL), max_chars=1500,
                question=QUESTION)
    return plan, seeds


def test_a_section_line_gives_way_to_a_usable_opening_of_comparable_relevance() -> None:
    plan, seeds = _plan_with_scores(0.03)
    assert lead_score(seeds[0]) > lead_score(seeds[1])  # the section line would lead
    draft = plan_draft(plan, seeds)
    assert draft.lead[0].text == "Analyze the evidence to confirm that an incident has occurred."
    texts = [c.text for c in draft.lead + draft.points]
    assert RETENTION in texts  # still quoted, just not first


def test_a_section_line_keeps_the_lead_when_nothing_usable_comes_close() -> None:
    plan, seeds = _plan_with_scores(compose_plan.LEAD_MARGIN + 0.03)
    assert plan_draft(plan, seeds).lead[0].text == RETENTION


def test_without_the_margin_the_section_line_leads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_plan, "LEAD_MARGIN", 0.0)
    plan, seeds = _plan_with_scores(0.03)
    assert plan_draft(plan, seeds).lead[0].text == RETENTION


def test_a_lead_in_followed_by_its_items_keeps_the_lead() -> None:
    # "1.4 Document Structure ...:" with its items after it reads as their lead-in; moved behind other blocks,
    # the length budget could cut its items
    plan, seeds = _plan_with_scores(0.03, STRUCTURE)
    assert plan_draft(plan, seeds).lead[0].text.startswith("The remainder of this document")  # heading cut off


# the starter library's network-segmentation checklist, as chunked (a bulleted list with no lead-in)
CHECKLIST = ("- Guest, student, staff, IoT/building systems, server, and management networks are separated.\n"
             "- Firewall rules between zones are deny-by-default and reviewed yearly.\n"
             "- Vendor remote access requires MFA and is enabled only when needed.\n"
             "- Staff are not local administrators, and IT staff use separate admin accounts.\n"
             "- Local administrator passwords are unique per device.\n"
             "- Departing staff accounts are disabled within one business day.")


def test_a_checklist_opens_on_its_entry_that_answers(monkeypatch: pytest.MonkeyPatch, real_embedder) -> None:  # type: ignore[no-untyped-def]
    question = ("every windows laptop in the district has the same local admin password (i know, i know). "
                "whats the fix?")
    passages = [_passage(0, CHECKLIST, "Network segmentation, least privilege and the zero-trust direction")]
    draft = ExtractiveComposer(real_embedder).compose(question, passages)
    assert draft.lead[0].text == "Local administrator passwords are unique per device."
    assert any(c.text.startswith("Guest, student, staff") for c in draft.points)  # the other entries follow
    monkeypatch.setattr(compose_plan, "_checklist_at", lambda plan, block, seed: 0)  # the block's order as it was
    assert ExtractiveComposer(real_embedder).compose(question, passages).lead[0].text.startswith("Guest, student")


def test_numbered_steps_keep_their_order() -> None:
    passages = [_passage(0, STEPS, "NIST SP 800-61")]
    draft = ExtractiveComposer(HashEmbedder()).compose("Stop the incident: what are the steps?", passages)
    steps = [c.text for c in draft.lead + draft.points if c.kind == "step"]
    assert len(steps) >= 2 and steps == sorted(steps, key=lambda t: STEPS.index(t[:40]))


def _checklist_index(text: str) -> int:
    from kb.answering.compose_plan import _checklist_at

    passages = [_passage(0, text, "Cybersecurity Workforce Development Toolkit")]
    structures = [passage_sentences(text)]
    seeds = candidates(passages, structures)
    plan = Plan(passages=passages, structures=structures, shape=QuestionShape(Shape.GENERAL), max_chars=1500)
    draft = plan_draft(plan, seeds, answering=False)
    return _checklist_at(plan, draft.lead + draft.points, seeds[-1])


def test_entries_numbered_in_words_keep_their_order() -> None:
    # the DHS workforce toolkit's career-path steps (k12docs): a bulleted list whose entries say their order
    steps = ["Identify the cybersecurity roles the organization needs and the skills each one requires.",
             "Build career paths that show how staff move from one role to the next.",
             "Share career paths with cybersecurity managers and staff."]
    numbered = "\n".join(f"- Step {n} \u2013 {t}" for n, t in enumerate(steps, 1))
    assert _checklist_index(numbered) == 0  # the last step may not open the list
    assert _checklist_index("\n".join(f"- {t}" for t in steps)) == 2  # as a checklist its entry may


# k12-001: both sentences speak of the "four major phases" of a "life cycle" in the question's words; only the
# second's document and section are about incident response
TRAINING = ("The design phase is the first of the four major phases (i.e., design the program, develop material, "
            "implement the program, maintain the program) in the life cycle of an awareness and training program.")
HANDLING = ("The four major phases in the life cycle are the preparation, detection and analysis, containment, "
            "eradication and recovery, and post-event activity phases.")
PHASES = "What are the four phases of the incident response life cycle?"


def _phases_draft() -> str:
    passages = [_passage(0, TRAINING, "NIST SP 800-50: Building an Information Technology Security Awareness and "
                                      "Training Program"),
                _passage(1, HANDLING, "NIST SP 800-61: Computer Security Incident Handling Guide")]
    passages[1].chunk.section = "3. Handling an Incident > 3.1 Incident Response Life Cycle"
    draft = ExtractiveComposer(HashEmbedder()).compose(PHASES, passages)
    return draft.lead[0].text


def test_the_lead_comes_from_the_passage_whose_title_and_section_name_the_question() -> None:
    assert _phases_draft() == HANDLING


def test_without_the_heading_share_the_other_documents_phases_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_plan, "HEADING_LEAD", 0.0)
    assert _phases_draft() == TRAINING
