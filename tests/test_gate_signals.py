"""Answerability signals of the abstention model, on real sentences over a small real index."""

from __future__ import annotations

import pytest

from kb.answering.gate_signals import SIGNALS, answerability_signals, asking_sentence, split_subject, unknown_subject
from kb.core.settings import Settings

FERPA = ("Under FERPA, teachers may share a student's grades with the student's parents. A teacher who collects "
         "student work through a personal email account rather than the district's managed account puts education "
         "records outside the district's control. District policy names who may approve a new app.")
BACKUPS = ("Keep three copies of district data on two kinds of media, one of them offline. Test a restore of the "
           "student information system every quarter; a full restore should finish within 48 hours.")
PASSWORDS = "A password manager stores staff credentials in an encrypted vault; require multi-factor authentication for it."


@pytest.fixture
def index(hash_settings: Settings):  # type: ignore[no-untyped-def]
    """A knowledge base of three short briefs (hash embedder: the signals read words, not meanings)."""
    from kb.core.documents import Chunk, DocRecord
    from kb.index.knowledge import DONE, KnowledgeBase

    kb = KnowledgeBase(hash_settings)
    chunks = [Chunk(id=f"{name}-0", doc_id=name, index=0, text=text, title=f"{name} brief", source=f"/lib/{name}.md",
                    source_type="md") for name, text in (("ferpa", FERPA), ("backups", BACKUPS), ("passwords", PASSWORDS))]
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


def _signals(index, question: str, cited: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from kb.answering.retrieval import Retriever

    passages = Retriever(index).retrieve(question, k=3)
    return answerability_signals(question, passages, index.keyword, cited_text=cited)


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


def test_a_choice_between_named_products_needs_both_named_in_the_answer(index) -> None:  # type: ignore[no-untyped-def]
    question = "is 1password or lastpass better as a password manager for our tech staff?"
    signals = _signals(index, question, PASSWORDS)
    assert signals["choice"] == 1.0 and signals["choice_uncited"] == 1.0  # neither product is in the library
    assert _signals(index, "How should we protect the password manager?", PASSWORDS)["choice"] == 0.0


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
