"""A PDF's page numbers and section headings run into a sentence are not quoted (kb.answering.glued_headings).

The unit cases are lines written in the shape a PDF's text layer gives them; the integration test reads
NIST SP 800-61 r2 from the shared evaluation data through the real PDF loader.
"""

from __future__ import annotations

import re

import pytest

from ingest.loaders.pdf import load_pdf
from kb.answering.glued_headings import body_start, heading_words
from kb.answering.sentences import passage_sentences, usable
from tests.conftest import SHARED_DATA

NIST_IR = SHARED_DATA / "k12docs" / "nist_sp800-61r2_computer-security-incident-handling-guide.pdf"


def _body(line: str) -> str:
    return line[body_start(line):]


@pytest.mark.parametrize(("line", "body"), [
    # section number, title-case heading, then the body's first sentence
    ("2.3.1 Guest Networks Guest devices reach the internet only through the content filter.",
     "Guest devices reach the internet only through the content filter."),
    # a figure caption before the section number
    ("Network Zones (Guest, Staff, and Servers) 4.2 Choosing Firewall Vendors Districts should ask each vendor "
     "for references.", "Districts should ask each vendor for references."),
    # small words inside the heading; the body starts at the last capital before the first lower-case word
    ("3.2.3 Sources of Backups and Restores Backups and restores are tested every term.",
     "Backups and restores are tested every term."),
    # a word that opens sentences ends the heading even when a capitalised name follows it
    ("3.4 Buying Decisions Since a District Target Profile is a prioritized list, it guides purchasing.",
     "Since a District Target Profile is a prioritized list, it guides purchasing."),
    ("1.0 THE DATA MODEL This overview of the data model explains its entities.",
     "This overview of the data model explains its entities."),
    # a page number and an appendix heading
    ("52 Appendix A\u2014Tabletop Scenarios Tabletop scenarios build incident response skills cheaply.",
     "Tabletop scenarios build incident response skills cheaply."),
    # a bare page number before a sentence
    ("20 Once training needs are identified, the district writes its plan.",
     "Once training needs are identified, the district writes its plan."),
    # the body's first word may carry a comma ("CIOs, program officials, ...")
    ("6.5 Program Success Signs CIOs, principals, and coaches should be the program's first advocates.",
     "CIOs, principals, and coaches should be the program's first advocates."),
    # a numbered caption or appendix label before its title, then the text
    ("Figure 2 - Building Blocks of a Ready Workforce The arrows on the left show how staff move between roles.",
     "The arrows on the left show how staff move between roles."),
    ("Appendix A: Network Core This appendix lists every switch and its closet.",
     "This appendix lists every switch and its closet."),
])
def test_the_glued_heading_is_cut_off(line: str, body: str) -> None:
    assert _body(line) == body


@pytest.mark.parametrize("line", [
    "1.5 Million students were served by the program last year.",  # a number of the sentence, no heading
    "Section 3.2 describes how the plan is reviewed.",  # a cross-reference, not a heading
    "25 states require a cybersecurity plan from every district.",
    "8 Appendix C identifies some existing workforce development tools.",  # "Appendix C" is one name
    "88 A.7 Staff Ability Descriptions Table 7 provides a listing of abilities.",  # "Table 7" likewise
    "63 Acknowledgements Project Team Schools and the Future of Teaching and Learning was developed by staff.",
    "11 Search for \u201cAI Glossary Educators\u201d to find other useful definitions.",
    "2.1.5 Tasks A Task is a specific piece of work.",
    # a caption without a heading run is the text itself: its label stays, or its title would read as a sentence
    "58 Figure 15: Listening session attendees ranked these priorities first.",
    "Table 2 - Summary of changes between Plan Version 1.0 and Version 1.1.",
    # "Appendix A contains" is not a heading then "A contains"
    "Figure 3-4: Gathering Information for a Needs Assessment Appendix A contains a sample interview.",
    "42 NIST SP 800-86, Guide to Forensic Techniques in Incident Response, provides detailed information.",
    # a capitalised run after a small word may be one name: the body could start at "Referencing" or at "Framework"
    "3.2 Recruitment and Hiring of Skilled Staff Referencing the Workforce Framework will help districts hire.",  # "A Task" could be the heading's end or the body's start
    "Guest devices reach the internet only through the content filter.",  # no number, nothing to cut
    "The Framework Profile is the alignment of standards with business needs.",
])
def test_a_line_without_a_sure_heading_stays_whole(line: str) -> None:
    assert body_start(line) == 0


def test_the_heading_words_leave_numbers_and_caption_labels_out() -> None:
    line = "Figure 2 - Building Blocks of a Ready Workforce The arrows on the left show how staff move between roles."
    assert heading_words(line[:body_start(line)]) == "Building Blocks of a Ready Workforce"
    assert heading_words("52 ") == ""


def test_only_a_prefix_is_cut_so_the_quote_stays_word_for_word() -> None:
    line = "4.3.2 Technical Information There are many kinds of technical indicators."
    assert line.endswith(_body(line)) and _body(line).startswith("There are many")


def test_a_contents_line_is_never_quoted() -> None:
    assert not usable("3.1 Preparation .................................................. 21 3.2 Detection and Analysis ....")
    assert not usable("Figure 3-4. Incident Response Life Cycle (Containment) . . . . . . . 35")
    assert usable("Restore tests run each term... and the results go to the board.")  # an ellipsis is not a leader


def test_sentences_of_a_real_pdf_are_quoted_without_their_headings() -> None:
    document = load_pdf(NIST_IR, max_pages=100)
    quoted = [s.text for section in document.sections for s in passage_sentences(section.text) if s.usable]
    heading_first = [t for t in quoted if re.match(r"(?:\d{1,3} )?\d+(?:\.\d+)+\.? [A-Z][a-z]+ [A-Z]", t)]
    assert any(t.startswith("Incidents can occur in countless ways") for t in quoted)
    assert not any("Attack Vectors Incidents can occur" in t for t in quoted)
    assert len(heading_first) <= len(quoted) // 100, heading_first[:5]  # section headings rarely lead a sentence now
    assert not any(re.search(r"\.{5}", t) for t in quoted)  # no contents line


def test_the_cut_heading_labels_the_sentence_it_was_run_into() -> None:
    from kb.answering.compose_plan import Plan, plan_draft
    from kb.answering.extractive import candidates
    from kb.answering.retrieval import Passage
    from kb.answering.shapes import QuestionShape, Shape
    from kb.core.documents import Chunk

    text = ("Figure 2-1. Network Zones 2.3.1 Guest Networks Guest devices reach the internet only through the "
            "content filter, never the staff or server zones.")
    sentences = passage_sentences(text)
    assert [(s.text[:13], s.heading) for s in sentences if s.usable] == [("Guest devices", "Guest Networks")]
    chunk = Chunk(id="c0", doc_id="d0", index=0, text=text, title="District Network Plan", source="/lib/plan.pdf",
                  source_type="pdf", page=12)
    passages = [Passage(chunk, 0.6, dense=0.6)]
    plan = Plan(passages=passages, structures=[sentences], shape=QuestionShape(Shape.GENERAL), max_chars=1500,
                question="Where can guest devices go on our network?")
    draft = plan_draft(plan, [c for c in candidates(passages, [sentences])])
    assert [c.group for c in draft.lead] == ["District Network Plan · Guest Networks"]


def test_a_heading_run_into_the_middle_of_a_line_is_cut_off_its_sentence_too() -> None:
    text = ("Districts can extend the framework with their own guides. 4.1 Competencies The state board defines a "
            "competency as the capability of applying knowledge and skills to a task.")
    sentences = passage_sentences(text)
    assert [(s.text[:22], s.heading) for s in sentences] == [("Districts can extend t", None),
                                                             ("The state board define", "Competencies")]


def test_a_caption_and_heading_after_a_figure_label_are_cut_off_the_next_sentence() -> None:
    # a PDF paragraph as the chunker joins it: the figure's label, its caption, the section heading, the body
    text = ("25 3.2 Detection and Analysis\nFigure 3-2.\nIncident Response Life Cycle (Detection and Analysis) "
            "3.2.1 Attack Vectors Incidents can occur in countless ways, so districts prepare for the common ones.")
    sentences = [(s.text[:20], s.heading) for s in passage_sentences(text) if s.usable]
    assert sentences[-1] == ("Incidents can occur ", "Attack Vectors")


def test_a_heading_that_opens_on_the_is_cut_too_and_a_title_case_line_is_not_a_sentence() -> None:
    line = "Communications with Outside Parties 2.3.4.1 The Media The incident team sets media procedures in advance."
    assert _body(line) == "The incident team sets media procedures in advance."
    assert body_start("3.1 The district should name an incident lead before the school year starts.") == 0
    assert not usable("25 3.2 Detection and Analysis Figure 3-2.")
    assert usable("The Superintendent and the Board of Education approved the plan.")


def test_a_page_number_run_into_a_sentence_is_dropped_but_a_count_stays() -> None:
    # NIST SP 800-50 as the PDF's text layer gives it: the page's number runs into the next page's first sentence
    text = ("A continuous awareness program is best. 13 At a minimum, the entire workforce should be exposed to "
            "awareness material annually. 13 States have adopted such a rule. 5 A district may add more. 128 "
            "Reviewing the NICE Framework, we identify the Incident Responder role. 5 Training sessions are held. "
            "3 Ways the district saves are listed.")
    assert [s.text for s in passage_sentences(text)] == [
        "A continuous awareness program is best.",
        "At a minimum, the entire workforce should be exposed to awareness material annually.",
        "13 States have adopted such a rule.",  # "13 States" counts states: the number is the text's
        "5 A district may add more.",  # "A" may start a count's noun phrase ("5 A-rated vendors"): kept
        "Reviewing the NICE Framework, we identify the Incident Responder role.",  # a verb and its object
        "5 Training sessions are held.",
        "3 Ways the district saves are listed.",
    ]
    # the PDF's page number on its own line before the page's first sentence (NIST SP 800-181, page 128)
    first = passage_sentences("128\nReviewing the NICE Framework, we identify the Incident Responder role.")[0]
    assert first.text == "Reviewing the NICE Framework, we identify the Incident Responder role."
