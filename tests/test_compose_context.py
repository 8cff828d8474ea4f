"""The composer reads the neighbouring chunk a top passage runs into (issue 14: what the composer reads)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ingest.chunking import chunk_document
from ingest.loaders import load_file
from kb.answering.context import arrange, continues, ends_cut, starts_cut
from kb.answering.retrieval import Passage
from kb.answering.sentences import passage_sentences
from kb.core.documents import Chunk
from tests.conftest import LIBRARY

RANSOMWARE = LIBRARY / "cyber-ransomware-preparedness.md"
QUESTION = "Our board wants to cut the cybersecurity budget. What should we protect first against ransomware?"


def _chunks() -> list[Chunk]:
    return chunk_document(load_file(RANSOMWARE), "ransomware", size=900, overlap=120)


def _by_section(chunks: list[Chunk], section: str) -> list[Chunk]:
    return [c for c in chunks if c.section == section]


def test_a_list_running_over_the_chunk_boundary_continues_and_a_new_section_does_not() -> None:
    chunks = _chunks()
    before = _by_section(chunks, "Before an attack (preparation)")
    during = _by_section(chunks, "During an attack (the first 72 hours)")
    assert len(before) == 2 and "offline or immutable" in before[0].text and "endpoint detection" in before[1].text
    # items 1-5 end the first chunk, items 6-10 open the second: one list over the boundary
    assert ends_cut(passage_sentences(before[0].text)) and starts_cut(passage_sentences(before[1].text))
    assert continues(before[0], before[1])
    # the "During an attack" steps start at 1 under their own heading: not more of the list before them
    assert starts_cut(passage_sentences(during[0].text))
    assert not continues(before[1], during[0])
    # within one section, a numbered list starting again at 1 is a new list too
    assert not continues(before[1], replace(during[0], section=before[1].section))


def test_whole_paragraphs_are_not_cut() -> None:
    text = ("Ransomware is malicious software that encrypts a district's files. Most crews now also steal data "
            "before encrypting it.")
    assert not starts_cut(passage_sentences(text)) and not ends_cut(passage_sentences(text))
    assert starts_cut(passage_sentences("These steps must be rehearsed before the school year starts."))
    assert starts_cut(passage_sentences("and the district's MS-ISAC membership status. The FBI field office..."))
    assert ends_cut(passage_sentences("The plan names two roles that must be filled:"))
    assert ends_cut(passage_sentences("The plan names the superintendent, the CTO and the"))


def _passage(chunk: Chunk, score: float, vector: np.ndarray | None = None) -> Passage:
    return Passage(chunk, score, None, None, vector)


def test_arrange_puts_the_neighbour_next_to_its_passage_and_only_on_the_cut_side() -> None:
    chunks = _chunks()
    first, second = _by_section(chunks, "Before an attack (preparation)")
    other = _by_section(chunks, "Paying the ransom")[0]
    vector = np.ones(4, dtype=np.float32) / 2.0
    found = {(c.doc_id, c.index): (c, vector) for c in chunks}
    passages = [_passage(second, 1.0), _passage(other, 0.5)]
    reading = arrange(passages, found, depth=1, share=0.8, query_vector=vector)
    # the list's first half is read before its second half; nothing is added around "Paying the ransom" (depth 1)
    assert [p.chunk.index for p in reading] == [first.index, second.index, other.index]
    assert reading[0].context and not reading[1].context
    assert reading[0].score == pytest.approx(0.8) and reading[0].dense == pytest.approx(1.0)
    # the chunk after the list opens another section: not read
    assert not any(p.chunk.index == second.index + 1 for p in reading)
    # depth 0, or a neighbour already retrieved, adds nothing
    assert arrange(passages, found, depth=0, share=0.8) == passages
    both = [_passage(second, 1.0), _passage(first, 0.9)]
    assert [p.chunk.index for p in arrange(both, found, depth=2, share=0.8)] == [second.index, first.index]


def test_the_ransomware_answer_reads_the_start_of_the_list_retrieval_cut_off(library_kb) -> None:  # type: ignore[no-untyped-def]
    """Over the real store: retrieval returns items 6-10 of the "Before an attack" list; items 1-5 come as context."""
    from kb.answering.assistant import Assistant

    with_context = Assistant(library_kb.settings.with_overrides(compose_context=3, compose_list_start=False),
                             kb=library_kb, journal=None)
    without = Assistant(library_kb.settings.with_overrides(compose_context=0, compose_list_start=False),
                        kb=library_kb, journal=None)
    retrieved = with_context.retriever.retrieve(with_context._expand(QUESTION))
    firsts = [c for c in library_kb.store.chunks_of([retrieved[0].chunk.doc_id])
              if c.section == "Before an attack (preparation)" and "offline or immutable" in c.text]
    assert len(firsts) == 1 and firsts[0].id not in {p.chunk.id for p in retrieved}  # what retrieval leaves out

    plain, read = without.ask(QUESTION), with_context.ask(QUESTION)
    assert not plain.abstained and not read.abstained
    assert "offline or immutable" not in plain.text
    assert "offline or immutable" in read.text
    cited = next(c for c in read.citations if "offline or immutable" in " ".join(c.supporting))
    assert cited.chunk_id == firsts[0].id and cited.snippet == firsts[0].text  # cited to its own chunk
    assert any(ref.get("context") and ref["chunk_id"] == firsts[0].id for ref in read.retrieved)
    assert len(read.text) <= library_kb.settings.max_answer_chars


def test_an_answer_opening_part_way_through_a_list_reads_the_chunk_the_list_starts_in(library_kb) -> None:  # type: ignore[no-untyped-def]
    """The default (no context depth): the draft opens on step 7 of "Before an attack", so the chunk holding
    steps 1-5 is read and the answer composed again; it opens on step 1 and numbers as the brief does."""
    import re

    from kb.answering.assistant import Assistant

    starting = Assistant(library_kb.settings.with_overrides(compose_context=0, compose_list_start=True),
                         kb=library_kb, journal=None)
    answer = starting.ask(QUESTION)
    assert not answer.abstained and "offline or immutable" in answer.text
    numbers = [int(n) for n in re.findall(r"(?m)^(\d+)\. ", answer.text.split("\n\n")[0])]
    assert numbers[0] == 1 and numbers == sorted(numbers) and max(numbers) > 5, answer.text  # steps 1.. and 6-10
    assert sum(1 for ref in answer.retrieved if ref.get("context")) == 1  # the one chunk before, nothing else
    # a question of another shape is answered from what retrieval returned
    other = starting.ask("What is double extortion in a ransomware attack?")
    assert not any(ref.get("context") for ref in other.retrieved)


def test_steps_keep_the_source_numbers_and_a_list_over_the_boundary_reads_in_source_order() -> None:
    from kb.answering.compose_plan import Plan, plan_draft
    from kb.answering.layout import render
    from kb.answering.sentences import Candidate
    from kb.answering.shapes import question_shape

    chunks = _chunks()
    first, second = _by_section(chunks, "Before an attack (preparation)")
    during = _by_section(chunks, "During an attack (the first 72 hours)")[0]

    def seed(passage: int, text: str, structures: list, similarity: float) -> Candidate:  # type: ignore[type-arg]
        position = next(s.position for s in structures[passage] if s.text.startswith(text))
        return Candidate(structures[passage][position].text, passage, position, item=True, similarity=similarity)

    def answer(passages: list[Chunk], starts: list[tuple[str, float]]) -> str:
        structures = [passage_sentences(c.text) for c in passages]
        plan = Plan(passages=[_passage(c, 1.0) for c in passages], structures=structures,
                    shape=question_shape("What should we do first?"), max_chars=1500)
        seeds = [seed(n, text, structures, similarity) for n, (text, similarity) in enumerate(starts)]
        return render(plan_draft(plan, seeds), lambda c: c.text)

    # items 1 and 6 of "Before an attack", cut over two chunks: quoted as 1 and 6 (never 1 and 2), in the source's
    # order even when item 6 is the better opening (the chunk before it was read as its context)
    for best in (0.9, 0.1):
        text = answer([first, second], [("Keep at least one copy", best), ("Deploy endpoint detection", 0.5)])
        assert text.startswith("1. Keep at least one copy"), text
        assert "\n6. Deploy endpoint detection" in text and "2. Deploy" not in text
    # another section's list is another list: its own numbers, under its own label
    text = answer([second, during], [("Deploy endpoint detection", 0.5), ("Isolate affected systems", 0.4)])
    assert "6. Deploy endpoint detection" in text and "During an attack" in text and "1. Isolate affected systems" in text


def test_neighbours_come_from_the_real_store_by_id_or_by_place(hash_settings) -> None:  # type: ignore[no-untyped-def]
    from kb.answering.context import neighbours, with_context
    from kb.core.documents import DocRecord
    from kb.index.knowledge import DONE, KnowledgeBase

    kb = KnowledgeBase(hash_settings)
    chunks = _chunks()
    # a second document whose chunk ids do not carry their position: its neighbours are asked of the store by place
    loose = [replace(c, id=f"loose:{c.index}", doc_id="loose") for c in chunks]
    for doc_id, group in (("ransomware", chunks), ("loose", loose)):
        kb.store.add_chunks(group, kb.embedder.embed_batch([c.embed_text for c in group]))
        kb.store.put_doc(DocRecord(doc_id=doc_id, source=group[0].source, source_type="md", title=group[0].title,
                                   content_hash=doc_id, status=DONE, chunk_count=len(group)))
    kb.refresh(force=True)
    first, second = _by_section(chunks, "Before an attack (preparation)")
    assert kb.keyword.neighbour_id(second.id, -1) == first.id
    assert kb.keyword.neighbour_id(chunks[-1].id, 1) is None and kb.keyword.neighbour_id(chunks[0].id, -1) is None
    assert not kb.keyword.places("loose:3")

    found = neighbours(kb, [Passage(second, 1.0)], 1)
    assert {place: entry[0].id for place, entry in found.items()} == {
        ("ransomware", first.index): first.id, ("ransomware", second.index + 1): chunks[second.index + 1].id}
    assert all(vector is not None and vector.shape == (kb.embedder.dimension,) for _, vector in found.values())
    loose_second = loose[second.index]
    found = neighbours(kb, [Passage(loose_second, 1.0)], 1)
    assert sorted(entry[0].id for entry in found.values()) == [f"loose:{first.index}", f"loose:{second.index + 1}"]
    assert {entry[0].id for entry in neighbours(kb, [Passage(second, 1.0)], 1, steps=(-1,)).values()} == {first.id}
    assert [entry[0].id for entry in neighbours(kb, [Passage(loose_second, 1.0)], 1, steps=(-1,)).values()] == [
        f"loose:{first.index}"]  # only the chunk before is read, whether the index can place it or not

    query = kb.embedder.embed_batch([QUESTION])[0]
    reading = with_context(kb, [Passage(second, 1.0), Passage(loose[0], 0.5)], depth=1, share=0.9, query_vector=query)
    assert [p.chunk.id for p in reading] == [first.id, second.id, loose[0].id]
    assert reading[0].context and reading[0].score == pytest.approx(0.9) and reading[0].dense is not None
