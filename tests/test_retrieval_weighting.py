"""Retrieval methods of issue 14: expansion words weighed below the user's own, and neighbour support."""

from __future__ import annotations

import pytest

from kb.answering.retrieval import Retriever, neighbour_supported
from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index.keyword import KeywordIndex
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.vocabulary import Vocabulary, find_terms

SECURITY = ("Require multi-factor authentication (MFA) for every staff account, starting with email and the "
            "student information system (SIS).")
MFA_EMAIL = "Turn on MFA for staff email before the start of the school year."
LONG_FORM = ("Multi-factor authentication blocks most password attacks. Multi-factor authentication apps are free, "
             "and multi-factor authentication tokens cost little.")


def _chunk(doc_id: str, index: int, text: str) -> Chunk:
    return Chunk(id=f"{doc_id}:{index}", doc_id=doc_id, index=index, text=text, title=doc_id,
                 source=f"/lib/{doc_id}.md", source_type="md")


def test_split_recognises_an_expanded_question_and_a_plain_one() -> None:
    vocabulary = Vocabulary.from_terms({"security": find_terms(SECURITY)})
    expanded = vocabulary.expand("mfa for staff email?")
    assert expanded == "mfa for staff email? (multi-factor authentication)"
    assert vocabulary.split(expanded) == ("mfa for staff email?", ["multi-factor authentication"])
    assert vocabulary.split("mfa for staff email?") == ("mfa for staff email?", ["multi-factor authentication"])
    # a parenthesis the user typed is the user's own words, not an expansion
    assert vocabulary.split("is email (staff only) covered?") == ("is email (staff only) covered?", [])


def test_expansion_words_count_their_weight_and_the_user_s_words_count_fully() -> None:
    index = KeywordIndex.build([_chunk("email", 0, MFA_EMAIL), _chunk("long", 0, LONG_FORM),
                                _chunk("other", 0, "Phishing drills run twice a year.")])
    own, added = "mfa for staff email", "multi-factor authentication"
    full = dict(index.search(own, 3, extra=added, extra_weight=1.0))
    half = dict(index.search(own, 3, extra=added, extra_weight=0.5))
    alone = dict(index.search(added, 3))
    assert half["long:0"] == pytest.approx(0.5 * alone["long:0"], rel=1e-5)  # it matches only the added words
    assert half["email:0"] == pytest.approx(dict(index.search(own, 3))["email:0"], rel=1e-5)
    assert full["long:0"] == pytest.approx(alone["long:0"], rel=1e-5)
    assert "other:0" not in half
    assert [cid for cid, _ in index.search(own, 3, extra=added, extra_weight=0.0)] == ["email:0"]


def test_neighbour_support_prefers_the_passage_whose_answer_continues() -> None:
    chunks = {
        "plan:3": _chunk("plan", 3, "The incident response plan lists these containment steps:"),
        "plan:4": _chunk("plan", 4, "Isolate the affected hosts, disable compromised accounts, preserve the logs."),
        "summary:0": _chunk("summary", 0, "This guide covers incident response, containment and recovery."),
        "plan:9": _chunk("plan", 9, "Recovery restores systems from clean backups."),
    }
    ranked = [("summary:0", 1.0), ("plan:3", 0.96), ("plan:4", 0.7), ("plan:9", 0.2)]
    out = neighbour_supported(ranked, chunks, 0.1)
    assert [cid for cid, _ in out][:2] == ["plan:3", "summary:0"]
    assert dict(out)["plan:3"] == pytest.approx(0.96 + 0.1 * 0.7)
    assert dict(out)["plan:4"] == pytest.approx(0.7 + 0.1 * 0.96)
    assert dict(out)["summary:0"] == 1.0 and dict(out)["plan:9"] == 0.2  # no retrieved neighbour: unchanged
    assert neighbour_supported(ranked, {}, 0.1) == ranked  # unknown chunks keep their score


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    kb = KnowledgeBase(hash_settings)
    docs = {"plan": ["The incident response plan lists these containment steps for ransomware:",
                     "Isolate the affected hosts, disable compromised accounts, preserve the logs."],
            "summary": ["This guide covers ransomware containment steps, response and recovery in brief."],
            "budget": ["The board approves the technology budget every spring."]}
    chunks = [_chunk(doc, n, text) for doc, texts in docs.items() for n, text in enumerate(texts)]
    kb.store.add_chunks(chunks, kb.embedder.embed_batch([c.embed_text for c in chunks]))
    kb.store.put_docs([DocRecord(doc_id=doc, source=f"/lib/{doc}.md", source_type="md", title=doc, content_hash=doc,
                                 status=DONE, chunk_count=len(texts)) for doc, texts in docs.items()])
    return kb


def test_the_retriever_applies_neighbour_support_only_when_set(kb: KnowledgeBase) -> None:
    question = "ransomware containment steps"
    vector = kb.embedder.embed_batch([question])[0]
    on = Retriever(kb, kb.settings.with_overrides(fusion="rrf", neighbour_support=0.5)).retrieve(question, k=4, query_vector=vector)
    off = Retriever(kb, kb.settings.with_overrides(fusion="rrf", neighbour_support=0.0)).retrieve(question, k=4, query_vector=vector)
    scores_on = {p.chunk.id: p.score for p in on}
    scores_off = {p.chunk.id: p.score for p in off}
    assert scores_on["summary:0"] == pytest.approx(scores_off["summary:0"])  # a one-chunk document has no neighbour
    assert scores_off["plan:1"] > 0.01
    assert scores_on["plan:0"] == pytest.approx(scores_off["plan:0"] + 0.5 * scores_off["plan:1"])
