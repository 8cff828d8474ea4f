"""The offline composer's sentence shortlist and the encoder's thread choice."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.clean import clean_text
from kb.answering.extractive import LIST_JOIN, MAX_SENTENCE, ExtractiveComposer, candidates, score_candidates
from kb.answering.layout import render
from kb.answering.retrieval import Passage
from kb.core.answer import Draft
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder


class CountingEmbedder(HashEmbedder):
    """The hashing embedder, remembering every batch it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed_batch(texts)


def passage(n: int, text: str, dense: float) -> Passage:
    chunk = Chunk(id=f"c{n}", doc_id=f"d{n}", index=0, text=text, title=f"Doc {n}", source=f"/lib/{n}.md",
                  source_type="md", date="2024-05-01")
    return Passage(chunk, dense, dense=dense)


QUESTION = "How often should backups be restored in a test?"
PASSAGES = [
    passage(1, "Backups should be restored in a test at least once a quarter. "
               "Keep one copy offline where ransomware cannot reach it. "
               "Label every tape with the date it was written.", 0.8),
    passage(2, "The board approves the technology budget every spring. "
               "Device refresh cycles run four to five years for most laptops. "
               "Chromebooks reach their update expiration date sooner.", 0.2),
]


def test_shortlist_encodes_only_the_most_promising_sentences() -> None:
    embedder = CountingEmbedder()
    items = candidates(PASSAGES)
    assert len(items) == 6
    vector = embedder.embed_batch([QUESTION])[0]
    embedder.batches.clear()

    kept = score_candidates(QUESTION, items, PASSAGES, embedder=embedder, question_vector=vector, shortlist=2)

    assert [len(batch) for batch in embedder.batches] == [2]  # one encode, of the shortlist only
    assert [c.text for c in kept] == embedder.batches[0]
    # both come from the relevant passage, and the sentence sharing the question's terms is among them
    assert {c.passage for c in kept} == {0}
    assert "Backups should be restored in a test at least once a quarter." in embedder.batches[0]
    assert all(c.vector is not None for c in kept)


def test_no_shortlist_scores_every_sentence() -> None:
    embedder = CountingEmbedder()
    items = score_candidates(QUESTION, candidates(PASSAGES), PASSAGES, embedder=embedder)
    assert len(items) == 6
    assert embedder.batches == [[QUESTION], [c.text for c in items]]
    best = max(items, key=lambda c: c.score)
    assert best.text.startswith("Backups should be restored")


def test_composer_answers_from_the_shortlist_only() -> None:
    embedder = CountingEmbedder()
    draft = ExtractiveComposer(embedder, shortlist=3, fill=False).compose(QUESTION, PASSAGES)
    claims = draft.lead + draft.points
    assert claims and len(claims) <= 3
    assert draft.lead[0].text.startswith("Backups should be restored")
    assert all(len(batch) <= 3 for batch in embedder.batches)


def _quoted(draft: Draft) -> int:
    """How many of PASSAGES' six sentences the draft quotes (consecutive ones share a claim)."""
    text = " ".join(c.text for c in draft.lead + draft.points)
    return sum(s.strip() + "." in text for p in PASSAGES for s in p.chunk.text.split(".") if s.strip())


def test_room_left_is_filled_past_the_shortlist_without_encoding_more() -> None:
    embedder = CountingEmbedder()
    draft = ExtractiveComposer(embedder, shortlist=2, fill=True).compose(QUESTION, PASSAGES)
    assert all(len(batch) <= 2 for batch in embedder.batches)  # still only the shortlist is encoded
    assert draft.lead[0].text.startswith("Backups should be restored")
    short = ExtractiveComposer(CountingEmbedder(), shortlist=2, fill=False).compose(QUESTION, PASSAGES)
    assert _quoted(short) == 2 and _quoted(draft) == 6  # the room left took the other four
    tight = ExtractiveComposer(CountingEmbedder(), shortlist=2, fill=True, max_chars=200).compose(QUESTION, PASSAGES)
    assert 2 <= _quoted(tight) < 6
    assert len(render(tight, lambda c: c.text + " [1]")) <= 200  # the fill respects the length budget


def test_a_list_of_short_items_is_quoted_with_its_lead_in() -> None:
    text = clean_text("Parties that are typically notified include:\n\uf03c CIO \uf03c Head of information security "
                      "\uf03c Legal department\n\nStatus updates go to the whole organization when needed.")
    texts = [c.text for c in candidates([passage(1, text, 0.5)])]
    assert texts[0] == "Parties that are typically notified include: CIO; Head of information security; Legal department"
    assert "Status updates go to the whole organization when needed." in texts


def test_a_list_of_whole_sentences_stays_separate() -> None:
    text = "Before an attack:\n- Keep offline backups of every critical system.\n- Test a full restore every quarter."
    texts = [c.text for c in candidates([passage(1, text, 0.5)])]
    assert texts == ["Keep offline backups of every critical system.", "Test a full restore every quarter."]


def test_a_long_list_is_cut_at_the_sentence_limit() -> None:
    items = [f"Item number {n}" for n in range(60)]
    text = "The inventory must include:\n" + "\n".join(f"- {item}" for item in items)
    first = candidates([passage(1, text, 0.5)])[0].text
    assert first.startswith("The inventory must include: Item number 0" + LIST_JOIN + "Item number 1")
    assert len(first) <= MAX_SENTENCE
    assert not first.endswith(LIST_JOIN)


def test_a_short_numbered_step_keeps_its_explanation() -> None:
    text = clean_text("Crisis steps:\n1.\nDocument everything.\nThis effort includes every action that is performed.\n"
                      "2.\nFind a coworker who can provide assistance.")
    draft = ExtractiveComposer(HashEmbedder()).compose("What are the crisis steps?", [passage(1, text, 0.5)])
    texts = [c.text for c in draft.lead + draft.points]
    assert texts == ["Crisis steps:", "Document everything. This effort includes every action that is performed.",
                     "Find a coworker who can provide assistance."]
    assert [c.kind for c in draft.points] == ["step", "step"]
