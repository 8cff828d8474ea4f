"""Answerability signals of the abstention model, on real sentences over a small real index."""

from __future__ import annotations

import pytest

from kb.answering.gate_signals import (
    SIGNALS,
    answerability_signals,
    asking_sentence,
    cited_headers,
    lead_document,
    split_subject,
    unknown_subject,
)
from kb.core.answer import Claim, Draft
from kb.core.settings import Settings

FERPA = ("Under FERPA, teachers may share a student's grades with the student's parents. A teacher who collects "
         "student work through a personal email account rather than the district's managed account puts education "
         "records outside the district's control. District policy names who may approve a new app.")
BACKUPS = ("Keep three copies of district data on two kinds of media, one of them offline. Test a restore of the "
           "student information system every quarter; a full restore should finish within 48 hours.")
PASSWORDS = "A password manager stores staff credentials in an encrypted vault; require multi-factor authentication for it."


# real sentences of briefs on other topics: with them, a word one brief alone uses is rare in the library
OTHERS = {
    "phones": "Ohio districts must adopt a policy that limits students' use of cell phones during the school day.",
    "sis": "Districts compare PowerSchool and Infinite Campus on cost, state reporting and the help desk they offer.",
    "erate": "E-Rate Category Two pays for switches, routers and wireless access points inside schools.",
    "coaching": "Instructional coaches meet teachers in short cycles of planning, modelling and feedback.",
    "equity": "Hotspot lending programs send a device home with students who have no internet access at home.",
    "ai": "Teachers set how much help from generative AI each assignment allows, from none to full use.",
    "budget": "The technology budget starts in the fall, with a refresh plan for every device the district owns.",
    "board": "A one-page board brief names the risk, the cost of doing nothing and the decision asked for.",
    "rostering": "OneRoster moves classes and enrolments from the student information system to learning apps.",
    "phishing": "Staff who report a phishing email within minutes let the help desk block the sender for everyone.",
    "cameras": "Federal rules bar buying some video surveillance equipment with federal grant money.",
    "accessibility": "Web content and mobile apps of public schools must meet the WCAG 2.1 AA standard.",
}


@pytest.fixture
def index(hash_settings: Settings):  # type: ignore[no-untyped-def]
    """A knowledge base of three short briefs (hash embedder: the signals read words, not meanings)."""
    return _briefs(hash_settings, {"ferpa": FERPA, "backups": BACKUPS, "passwords": PASSWORDS})


def _briefs(settings: Settings, texts: dict[str, str], *, section: str | None = None):  # type: ignore[no-untyped-def]
    """A knowledge base with one single-chunk document per text, titled "<name> brief"."""
    from kb.core.documents import Chunk, DocRecord
    from kb.index.knowledge import DONE, KnowledgeBase

    kb = KnowledgeBase(settings)
    chunks = [Chunk(id=f"{name}-0", doc_id=name, index=0, text=text, title=f"{name} brief", section=section,
                    source=f"/lib/{name}.md", source_type="md") for name, text in texts.items()]
    kb.store.add_chunks(chunks, kb.embedder.embed_batch([c.embed_text for c in chunks]))
    for c in chunks:
        kb.store.put_doc(DocRecord(doc_id=c.doc_id, source=c.source, source_type="md", title=c.title,
                                   content_hash=c.doc_id, status=DONE, chunk_count=1))
    kb.refresh(force=True)
    return kb


def test_the_asking_sentence_keeps_the_appended_long_forms() -> None:
    assert asking_sentence("We use Gmail. How do we enforce MFA? (multi-factor authentication)") == (
        "How do we enforce MFA? (multi-factor authentication)", "We use Gmail.")
    assert asking_sentence("cat 2 funding rules") == ("cat 2 funding rules", "")


def test_a_name_that_sets_the_scene_is_context_and_a_name_asked_about_is_the_subject() -> None:
    subject, scene = split_subject("A teacher had students turn in work through her personal Gmail account. "
                                   "Is that a problem?")
    assert subject == "Is that a problem?" and "Gmail" in scene
    subject, scene = split_subject("When teachers use Google Workspace and Gmail, what does FERPA require of us?")
    assert "Gmail" in scene and "FERPA" in subject and "Gmail" not in subject
    subject, scene = split_subject("is 1password or lastpass better as a password manager for our tech staff?")
    assert "lastpass" in subject and "tech staff" in scene
    assert split_subject("What is our district's policy on TikTok?") == ("What is our district's policy on TikTok?", "")
    subject, scene = split_subject("crowdstrike vs sentinelone for EDR on 6k chromebooks, which one is cheaper?")
    assert "sentinelone" in subject and "chromebooks" in scene


def test_unknown_names_count_against_the_question_only_as_its_subject(index) -> None:  # type: ignore[no-untyped-def]
    keyword = index.keyword
    in_subject, in_scene = unknown_subject("A teacher had students turn in work through her personal Gmail account. "
                                           "Does that put education records outside the district's control?", keyword)
    assert in_subject == 0 and in_scene >= 1  # gmail (and "turn") only set the scene
    assert unknown_subject("What is our district's policy on TikTok?", keyword) == (1, 0)
    in_subject, _ = unknown_subject("is starlink business worth it for the admin building?", keyword)
    assert in_subject >= 2  # starlink, business ...: words no brief uses, in lower case too


def _signals(index, question: str, cited: str, headers: str = "") -> dict[str, float]:  # type: ignore[no-untyped-def]
    from kb.answering.retrieval import Retriever

    passages = Retriever(index).retrieve(question, k=3)
    return answerability_signals(question, passages, index.keyword, cited_text=cited, headers=headers)


@pytest.fixture
def library(hash_settings: Settings):  # type: ignore[no-untyped-def]
    """The three briefs and twelve others, each a document with a title and a section heading."""
    return _briefs(hash_settings, {"ferpa": FERPA, "backups": BACKUPS, "passwords": PASSWORDS, **OTHERS},
                   section="Overview")


def test_the_cited_sentences_must_hold_what_the_question_asks_about(index) -> None:  # type: ignore[no-untyped-def]
    question = "Can teachers share grades with parents by personal email?"
    on_point = _signals(index, question, FERPA)
    beside = _signals(index, question, BACKUPS)
    assert set(on_point) == set(SIGNALS)
    assert on_point["focus_cited"] > 0.8 > 0.2 > beside["focus_cited"]
    assert on_point["together"] > 0.8  # one passage holds the question's rare words together
    assert on_point["agree_top3"] > 0.0


def test_a_duration_question_needs_a_duration_in_the_cited_sentences(index) -> None:  # type: ignore[no-untyped-def]
    question = "How long should a full restore of the student information system take?"
    assert _signals(index, question, BACKUPS)["duration_unanswered"] == 0.0  # "within 48 hours"
    assert _signals(index, question, "Test a restore of the student information system.")["duration_unanswered"] == 1.0


def test_a_figure_asked_by_its_unit_or_as_a_count_needs_that_figure_cited() -> None:
    from kb.answering.gate_signals import figure_unanswered

    premium = "What is the average cyber insurance premium per student for school districts in 2025?"
    assert figure_unanswered(premium, "Premiums rose sharply for many districts in 2024 as insurers tightened terms.") == 1.0
    assert figure_unanswered(premium, "The FCC capped support at $13.60 per student over the three years.") == 0.0
    monthly = "is starlink business worth it and what does it cost per month?"
    assert figure_unanswered(monthly, "Satellite service for an admin building runs about $120 monthly.") == 0.0
    assert figure_unanswered(monthly, "Satellite service is an option where no fiber reaches the building.") == 1.0
    count = "Exactly how many U.S. school districts were running an Ed-Fi ODS as of 2025?"
    assert figure_unanswered(count, "Ed-Fi is used by state agencies and many districts.") == 1.0
    assert figure_unanswered(count, "In 2025 more districts joined state Ed-Fi programs.") == 1.0  # a year counts nothing
    assert figure_unanswered(count, "The FCC selected 707 participants: 645 schools and districts, 50 libraries.") == 0.0
    # a unit the source words its own way, a number in words, the counted thing before its number
    bandwidth = "How much internet bandwidth per student should a district plan for?"
    assert figure_unanswered(bandwidth, "Schools should have 100 Mbps per 1,000 students and staff.") == 0.0
    assert figure_unanswered(bandwidth, "1 Gbps per 1,000 users equals 1 Mbps per user.") == 0.0
    assert figure_unanswered(bandwidth, "Plan bandwidth for peaks, not averages.") == 1.0
    assert figure_unanswered("How many wireless access points per classroom?",
                             "Access points should be placed one per classroom for dense coverage.") == 0.0
    # the counted word's stem: "how many applicants" is answered by "2,734 applications"
    assert figure_unanswered("how many applicants got picked?", "The FCC received 2,734 applications.") == 0.0
    # no figure asked by unit or count ("how long" is duration_unanswered's; "how much" asks_amount's)
    assert figure_unanswered("How many days do we have to notify parents?", "Notify promptly.") == 0.0
    assert figure_unanswered("How should we budget for devices?", "Plan a replacement cycle.") == 0.0
    # the way to a figure, not the figure: a method answers it
    assert figure_unanswered("How do I figure out what one Chromebook really costs us per year, all in?",
                             "List every cost category and assign a yearly amount.") == 0.0
    assert figure_unanswered("how to count how many devices we have", "Use the MDM inventory.") == 0.0


def test_a_choice_between_named_products_needs_both_named_in_the_answer(index) -> None:  # type: ignore[no-untyped-def]
    question = "is 1password or lastpass better as a password manager for our tech staff?"
    signals = _signals(index, question, PASSWORDS)
    assert signals["choice"] == 1.0 and signals["choice_uncited"] == 1.0  # neither product is in the library
    assert _signals(index, "How should we protect the password manager?", PASSWORDS)["choice"] == 0.0


def test_each_product_of_a_choice_is_read_where_its_name_stands(library) -> None:  # type: ignore[no-untyped-def]
    """The name after "vs" starts its option: "powerschool for our SIS switch" names powerschool, not "for"."""
    question = "infinite campus vs powerschool for our SIS switch next year - which one do districts pick?"
    assert _signals(library, question, OTHERS["sis"])["choice_uncited"] == 0.0  # both named in the cited sentence
    assert _signals(library, question, "Districts compare Infinite Campus on cost.")["choice_uncited"] == 1.0


def test_a_name_the_question_asks_about_must_be_in_the_cited_sentences(index) -> None:  # type: ignore[no-untyped-def]
    question = "What does FERPA say about grades in the Student Information System?"
    general = _signals(index, question, "Teachers may share a student's grades with the student's parents.")
    named = _signals(index, question, FERPA)
    # each capitalised word counts: FERPA, Information and System are left out ("student" is cited)
    assert general["names_uncited"] == 3.0
    assert named["names_uncited"] == 2.0  # FERPA is cited now
    scene = _signals(index, "Our Student Information System is new. What does FERPA say about sharing grades?", FERPA)
    assert scene["names_uncited"] == 0.0  # a name that only sets the scene need not be cited


@pytest.mark.model  # fitting needs scikit-learn (the eval extra)
def test_the_regularisation_is_chosen_held_out_and_the_fit_is_reproducible() -> None:
    import random

    from eval.train_gate import C_GRID, chosen_c, fit_gate

    rng = random.Random(5)
    rows = []
    for i in range(240):
        covered = i % 4 != 0
        rows.append({"dense": round((0.6 if covered else 0.35) + rng.gauss(0, 0.12), 3), "covered": covered,
                     "names_uncited": float(rng.random() < (0.1 if covered else 0.6)), "group": f"doc{i % 19}",
                     "corpus": "synthetic", "slice": "main", **{f"noise{j}": round(rng.random(), 3) for j in range(6)}})
    features = ("dense", "names_uncited", *(f"noise{j}" for j in range(6)))
    assert chosen_c(rows, features=features) in C_GRID
    assert fit_gate(rows, features=features) == fit_gate([dict(r) for r in rows], features=features)
    model = fit_gate(rows, features=features)
    coef = dict(zip(model.features, model.coef, strict=True))
    assert coef["dense"] > 0 > coef["names_uncited"]
    assert max(abs(coef[f"noise{j}"]) for j in range(6)) < min(abs(coef["dense"]), abs(coef["names_uncited"]))


def test_a_name_in_the_cited_document_s_title_or_heading_counts_as_cited(index) -> None:  # type: ignore[no-untyped-def]
    """A spreadsheet row does not repeat its workbook's name: "E-Rate" is in the title it is quoted under."""
    question = "What does line 14 of the E-Rate 471 cost?"
    row = "Line: 14 | Description: Wireless access points | Category: Category Two | Pre-discount cost: 23650"
    assert _signals(index, question, row)["names_uncited"] == 1.0  # "Rate" is nowhere in the row
    assert _signals(index, question, row, headers="e-rate-471-items Form 471")["names_uncited"] == 0.0


def test_an_acronym_is_cited_by_its_long_form(index) -> None:  # type: ignore[no-untyped-def]
    """The passwords brief writes "multi-factor authentication", never "MFA" (the glossary's acronym for it)."""
    question = "Do we need MFA on the password manager?"
    assert index.keyword.vocabulary.long_form("MFA") == "multi-factor authentication"
    assert _signals(index, question, PASSWORDS)["names_uncited"] == 0.0
    assert _signals(index, question, BACKUPS)["names_uncited"] == 1.0


def test_the_cited_headers_are_those_of_the_passages_the_draft_quotes(library) -> None:  # type: ignore[no-untyped-def]
    from kb.answering.retrieval import Retriever

    passages = Retriever(library).retrieve("How often should we test a restore of the student information system?", k=4)
    assert passages[0].chunk.doc_id == "backups"
    draft = Draft(lead=[Claim(BACKUPS.split(". ")[1], [0])], points=[Claim("x", [len(passages) + 3])])
    assert cited_headers(draft, passages) == "backups brief Overview"  # an index past the passages is ignored
    assert cited_headers(None, passages) == "" and lead_document(draft, passages) == "backups"
    assert lead_document(Draft(lead=[]), passages) is None


def test_a_lower_case_name_the_library_uses_elsewhere_must_be_cited(library) -> None:  # type: ignore[no-untyped-def]
    """Casual questions name products and places in lower case; the answer about something near them is not theirs."""
    question = "ohio district here - do we have to adopt a policy on cell phones by a certain date?"
    general = _signals(library, question, "District policy names who may approve a new app.", headers="ferpa brief Overview")
    on_point = _signals(library, question, OTHERS["phones"], headers="phones brief Overview")
    assert general["rare_uncited"] >= 2.0 and general["subject_uncited"] > 0.6  # ohio, phones (cell) ...
    assert on_point["rare_uncited"] == 0.0 and on_point["subject_uncited"] < general["subject_uncited"]
    question = "infinite campus vs powerschool for our SIS switch next year - which one do districts pick?"
    rostering = _signals(library, question, OTHERS["rostering"], headers="rostering brief Overview")
    compared = _signals(library, question, OTHERS["sis"], headers="sis brief Overview")
    assert rostering["rare_uncited"] >= 2.0 > compared["rare_uncited"]  # infinite, campus, powerschool


def test_the_answer_s_document_is_ranked_high_by_both_searches_or_not(library) -> None:  # type: ignore[no-untyped-def]
    from kb.answering.retrieval import Retriever

    question = "Can teachers share grades with parents by personal email under FERPA?"
    passages = Retriever(library).retrieve(question, k=5)
    agree = answerability_signals(question, passages, library.keyword, cited_text=FERPA, lead_doc="ferpa")
    apart = answerability_signals(question, passages, library.keyword, cited_text=OTHERS["board"], lead_doc="board")
    assert agree["cited_doc_agree"] == 1.0 and apart["cited_doc_agree"] == 0.0
