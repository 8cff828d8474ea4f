"""kb.langchain inside LangChain chains: the retriever, the answering Runnable, and the LLM composer's LCEL chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from ingest import IngestOptions, run_ingest
from kb import KnowledgeBase, Settings
from kb.langchain import AnswerRunnable, KnowledgeBaseRetriever, format_documents, parse_request
from tests.helpers import write

QUESTION = "How often should district backups be tested?"
BACKUPS = ("---\ntitle: Backups\ndate: 2025-02-01\nsource_url: https://example.org/backups\n---\n# Backups\n\n"
           "## Restore tests\n\n" + ("Test restores of district backups every quarter. Keep one backup copy offline and "
                                     "immutable. Document who may start a restore and how long it takes. ") * 3)
BREAD = "---\ntitle: Bread\n---\n# Bread\n\n" + "Sourdough bread needs a starter fed with flour and water every day. " * 5


@pytest.fixture
def knowledge(tmp_path: Path, hash_settings: Settings) -> KnowledgeBase:
    write(tmp_path / "docs" / "backups.md", BACKUPS)
    write(tmp_path / "docs" / "bread.md", BREAD)
    kb = KnowledgeBase(hash_settings)
    report = run_ingest(kb, [str(tmp_path / "docs")], options=IngestOptions(metadata={"authority": "state"}))
    assert report.counts() == {"added": 2}
    return kb


def test_retriever_documents_carry_citation_metadata_inside_a_chain(knowledge: KnowledgeBase) -> None:
    retriever = KnowledgeBaseRetriever.from_settings(kb=knowledge, k=2)
    titles = retriever | RunnableLambda(lambda docs: [d.metadata["title"] for d in docs])
    assert titles.invoke(QUESTION)[0] == "Backups"
    top = retriever.invoke(QUESTION)[0]
    assert "Test restores of district backups" in top.page_content
    meta = top.metadata
    assert meta["doc_id"] and meta["chunk_id"] == top.id and meta["heading"] == "Restore tests"
    assert meta["url"] == "https://example.org/backups" and meta["link"] == "https://example.org/backups#restore-tests"
    assert meta["date"] == "2025-02-01" and meta["authority"] == "state" and meta["page"] is None
    assert retriever.batch([QUESTION, "sourdough starter flour"])[1][0].metadata["title"] == "Bread"


def test_retriever_filters_apply(knowledge: KnowledgeBase) -> None:
    from kb.answering.retrieval import Filters

    dated = KnowledgeBaseRetriever.from_settings(kb=knowledge, filters=Filters(date_from="2025-01-01"))
    assert {d.metadata["title"] for d in dated.invoke("backups and bread")} == {"Backups"}  # Bread is undated


def test_answer_runnable_invoke_batch_and_stream_in_a_chain(knowledge: KnowledgeBase) -> None:
    runnable = AnswerRunnable.from_settings(kb=knowledge, audit=False)
    chain = RunnableLambda(lambda q: {"question": q, "history": []}) | runnable
    answer = chain.invoke(QUESTION)
    assert not answer["abstained"] and answer["citations"][0]["title"] == "Backups"
    assert answer["citations"][0]["authority"] == "state" and "[1]" in answer["text"]
    follow_up, off_topic = runnable.batch([{"question": "And who may start one?", "history": [QUESTION]},
                                           "What is the capital of Peru?"])
    assert follow_up["standalone_question"].startswith(QUESTION) and off_topic["abstained"]
    streamed = list(runnable.stream(QUESTION))
    assert streamed[-1]["text"] == answer["text"] and streamed[-1]["citations"] == answer["citations"]
    filtered = runnable.invoke({"question": QUESTION, "filters": {"authorities": ["federal"]}})
    assert filtered["abstained"]  # both documents are 'state'


def test_requests_are_checked() -> None:
    assert parse_request("Why?") == ("Why?", [], None, None)
    question, history, filters, k = parse_request({"question": "Why?", "history": ["a"], "filters": {"areas": ["cybersecurity"]}, "k": 3})
    assert (question, history, k) == ("Why?", ["a"], 3) and filters is not None and filters.areas == ("cybersecurity",)
    with pytest.raises(ValueError, match="a dict with a 'question' string"):
        parse_request({"query": "Why?"})


def test_a_langchain_user_composes_the_retriever_with_their_own_model(knowledge: KnowledgeBase) -> None:
    """The docs/langchain.md recipe, with a stand-in 'model' that answers from what reached it."""
    seen: list[list[BaseMessage]] = []

    def their_model(prompt: Any) -> AIMessage:
        messages = prompt.to_messages()
        seen.append(messages)
        return AIMessage(content="Restores are tested every quarter [1].")

    prompt = ChatPromptTemplate.from_messages([
        ("system", "Answer only from the numbered passages and cite them like [1].\n\n{context}"),
        ("human", "{question}"),
    ])
    retriever = KnowledgeBaseRetriever.from_settings(kb=knowledge, k=2)
    chain = ({"context": retriever | format_documents, "question": RunnablePassthrough()} | prompt
             | RunnableLambda(their_model) | StrOutputParser())
    assert chain.invoke(QUESTION) == "Restores are tested every quarter [1]."
    system = str(seen[0][0].content)
    assert "[1] Backups (Restore tests)\nTest restores of district backups every quarter." in system


def test_the_llm_composer_is_an_lcel_chain_built_from_the_prompt_files() -> None:
    from kb.answering.llm.composer import answer_chain, rewrite_chain
    from kb.core.prompts import load

    received: list[list[BaseMessage]] = []

    def model(messages: list[BaseMessage]) -> AIMessage:
        received.append(messages)
        return AIMessage(content="Test restores quarterly [1].")

    chain = answer_chain(RunnableLambda(model), max_chars=700)
    assert chain.invoke({"question": QUESTION, "passages": "[1] Backups\nTest restores quarterly."}) == \
        "Test restores quarterly [1]."
    system, user = received[0]
    assert system.content == load("llm_system").replace("$max_chars", "700")
    assert "[1] Backups\nTest restores quarterly." in str(user.content) and QUESTION in str(user.content)
    assert rewrite_chain(RunnableLambda(model)).invoke({"question": "And offline?", "history": [QUESTION]})
    assert QUESTION in str(received[1][0].content)
