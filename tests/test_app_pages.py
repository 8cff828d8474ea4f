"""The Streamlit pages, driven in-process with AppTest over a small real knowledge base.

The knowledge base is real (Chroma, BM25, the ingest pipeline) with the fast hash
embedder; it is built once per module and copied into each test's data directory.
Shared objects live in ``st.cache_resource``, which is cleared around every test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kb.core.settings import REPO_ROOT, Settings
from kb.governance.journal import Journal

APP = REPO_ROOT / "app.py"
LIBRARY_FILES = ["cyber-ransomware-preparedness.md", "budget-e-rate-category-one-and-two.md",
                 "pd-models-that-work.md"]
RANSOMWARE = "How should we prepare for a ransomware attack?"
OFF_TOPIC = "How do I bake sourdough bread at home?"
TIMEOUT = 60


@pytest.fixture(scope="module")
def template_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding three starter-library documents (hash embedder)."""
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    root = tmp_path_factory.mktemp("app-kb")
    settings = Settings(data_dir=root / "data", embedding_model="hash")
    report = run_ingest(KnowledgeBase(settings), [str(REPO_ROOT / "library" / f) for f in LIBRARY_FILES])
    assert not report.failed, [r.reason for r in report.failed]
    return root / "data"


@pytest.fixture
def data_dir(template_kb: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's copy of the knowledge base, and settings for it in the environment."""
    data = Path(os.environ["CTO_DATA_DIR"])
    shutil.copytree(template_kb, data)
    monkeypatch.setenv("CTO_EMBEDDING_MODEL", "hash")
    st.cache_resource.clear()
    yield data
    st.cache_resource.clear()


# The ingest parser's worker processes re-import the running script as __mp_main__: it must do nothing there.
PAGE_SCRIPT = """
import importlib

if __name__ == "__main__":
    importlib.import_module("ui.{name}").render()
"""


def page_test(name: str) -> AppTest:
    return AppTest.from_string(PAGE_SCRIPT.format(name=name), default_timeout=TIMEOUT)


def _ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


# ----- app and chat -----------------------------------------------------------------------------
def test_app_opens_on_the_chat_with_starter_questions(data_dir: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error
    assert at.title[0].value == "Ask the library"
    starters = [b.label for b in at.button if b.key and b.key.startswith("starter_")]
    assert RANSOMWARE in starters and len(starters) == 10  # two per area
    assert at.button(key="starter_cybersecurity_0").label == RANSOMWARE


def test_answer_has_numbered_citation_cards_and_a_follow_up_uses_the_history(data_dir: Path) -> None:
    at = _ask(AppTest.from_file(str(APP), default_timeout=TIMEOUT).run(), RANSOMWARE)
    assert len(at.chat_message) == 2
    cards = [e.label for e in at.expander if e.label.startswith("**\\[")]
    assert cards and cards[0].startswith("**\\[1\\]** Ransomware preparedness")
    assert "**\\[1\\]**" in _markdown(at)  # the answer text carries its markers
    assert ":orange-background[" in _markdown(at)  # the supporting sentence is highlighted in its card
    assert any(link.label == "Show in library" for link in at.page_link)
    _ask(at, "Who should we call first?")
    assert len(at.chat_message) == 4
    turns = at.session_state["chat_turns"]
    assert "ransomware" in turns[1].answer.standalone_question.lower()  # rewritten with the earlier turn
    assert not turns[1].answer.abstained


def test_a_starter_question_is_asked_when_clicked(data_dir: Path) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at.button(key="starter_cybersecurity_0").click().run()
    assert not at.exception
    assert [t.question for t in at.session_state["chat_turns"]] == [RANSOMWARE]
    assert not any(b.key and b.key.startswith("starter_") for b in at.button)


def test_a_question_the_library_does_not_cover_says_so_and_is_logged_as_a_gap(data_dir: Path) -> None:
    at = _ask(page_test("chat").run(), OFF_TOPIC)
    text = _markdown(at)
    assert "Not covered by the library" in text and "does not cover this question" in text
    assert not [e for e in at.expander if e.label.startswith("**\\[")]
    gaps = Journal(data_dir).gaps()
    assert [(g["question"], g["reason"]) for g in gaps] == [(OFF_TOPIC, "abstained")]


def test_thumbs_down_records_feedback_and_a_gap_and_a_comment(data_dir: Path) -> None:
    at = _ask(page_test("chat").run(), RANSOMWARE)
    at.feedback[0].set_value(0).run()  # 0 is thumbs down
    journal = Journal(data_dir)
    assert [(f["question"], f["rating"]) for f in journal.feedback()] == [(RANSOMWARE, -1)]
    gap = journal.gaps()[0]
    assert gap["reason"] == "thumbs-down" and gap["nearest"][0].startswith("Ransomware preparedness")
    at.text_input(key=f"fbt_{at.session_state['chat_turns'][0].answer.id}").input("Missing the insurer's role")
    submit = next(b for b in at.button if b.label == "Send comment")
    submit.click().run()
    assert journal.feedback()[0]["comment"] == "Missing the insurer's role"
    assert "comment was saved" in " ".join(c.value for c in at.caption)
    assert len(journal.gaps()) == 1  # one gap per answer, however often it is rated
    # a visit to another page drops the widget's state but not the conversation: the rating is still shown
    later = page_test("chat")
    for key in ("chat_turns", "chat_rated", "chat_gaps", "chat_commented"):
        later.session_state[key] = at.session_state[key]
    later.run()
    assert later.feedback[0].value == 0 and len(journal.feedback()) == 2  # shown, not recorded again


class StreamingComposer:
    """Stands in for an LLM (none runs here): streams two pieces, then answers with a passage's first sentence."""

    name = "streaming-stub"

    def __init__(self) -> None:
        self.streamed: list[str] = []

    def compose(self, question, passages, *, question_vector=None, on_token=None):  # type: ignore[no-untyped-def]
        from kb.core.answer import Claim, Draft
        from kb.core.text import split_sentences

        assert on_token is not None, "the chat must stream when an LLM composes"
        for piece in ("Keep one backup ", "offline [1]."):
            on_token(piece)
            self.streamed.append(piece)
        first = split_sentences(passages[0].chunk.text)[0]
        return Draft(lead=[Claim(first, [0])], composer=self.name)

    def rewrite(self, question, history):  # type: ignore[no-untyped-def]
        return question


def test_an_llm_answer_is_streamed_into_the_page(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    composer = StreamingComposer()
    monkeypatch.setenv("CTO_LLM_BACKEND", "ollama")
    monkeypatch.setattr("kb.answering.assistant.make_composer", lambda settings, embedder: composer)
    at = _ask(page_test("chat").run(), RANSOMWARE)
    assert composer.streamed == ["Keep one backup ", "offline [1]."]
    answer = at.session_state["chat_turns"][0].answer
    assert answer.composer == "streaming-stub" and answer.citations
    assert "Keep one backup" not in _markdown(at)  # the streamed draft is replaced by the checked answer


def test_area_filter_restricts_the_sources(data_dir: Path) -> None:
    at = page_test("chat").run()
    at.multiselect(key="filter_areas").set_value(["budgets-funding"]).run()
    _ask(at, "What does E-Rate Category Two cover?")
    answer = at.session_state["chat_turns"][0].answer
    assert answer.citations and all("budgets-funding" in c.areas for c in answer.citations)
    assert "Filters are on" in " ".join(c.value for c in at.caption)
    at.multiselect(key="filter_areas").set_value(["professional-development"]).run()
    _ask(at, "What does E-Rate Category Two cover?")
    answer = at.session_state["chat_turns"][1].answer
    assert all("professional-development" in c.areas for c in answer.citations)
    assert not any("budget" in c.title.lower() or "e-rate" in c.title.lower() for c in answer.citations)


def test_new_chat_clears_the_conversation_and_export_offers_it(data_dir: Path) -> None:
    at = _ask(page_test("chat").run(), RANSOMWARE)
    export = at.download_button[0] if at.download_button else None
    assert export is not None and not export.disabled
    next(b for b in at.button if b.label == "New chat").click().run()
    assert at.session_state["chat_turns"] == [] and not at.chat_message


def test_conversation_markdown_holds_questions_answers_and_sources(data_dir: Path) -> None:
    from kb.answering.assistant import Assistant
    from ui.chat import Turn, conversation_markdown

    answer = Assistant(Settings()).ask(RANSOMWARE)
    text = conversation_markdown([Turn(RANSOMWARE, answer)])
    assert text.startswith("# CTO Assistant conversation")
    assert f"## 1. {RANSOMWARE}" in text and "Sources:  \n[1] Ransomware preparedness" in text  # one source a line
    assert not re.search(r"(?m)^\d+\. ", text)  # steps keep the source's numbers in a Markdown viewer ("7\\.")


# ----- library ------------------------------------------------------------------------------------
def test_library_lists_filters_and_opens_a_document_by_deep_link(data_dir: Path) -> None:
    at = page_test("library").run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 3 and "Ransomware preparedness and response for school districts" in set(table["Title"])
    at.text_input(key="lib_search").input("e-rate").run()
    assert list(at.dataframe[0].value["Title"]) == ["E-Rate basics: Category One, Category Two, discounts and the application cycle"]
    coverage = at.dataframe[1].value
    assert dict(zip(coverage["Area"], coverage["Documents"], strict=True))["Budgets and funding"] == 1

    from kb.index.knowledge import KnowledgeBase

    kb = KnowledgeBase(Settings())
    doc = next(d for d in kb.store.docs() if d.title.startswith("Ransomware"))
    chunk_id = kb.store.chunk_ids(doc.doc_id)[2]
    linked = page_test("library")
    linked.query_params.update(doc=doc.doc_id, chunk=chunk_id)
    linked.run()
    assert linked.subheader[0].value.startswith("Ransomware preparedness")
    cited = [e for e in linked.expander if e.label.startswith("Cited: ")]
    assert len(cited) == 1 and cited[0].proto.expanded


def _open_in_library(doc_id: str) -> AppTest:
    at = page_test("library")
    at.query_params.update(doc=doc_id)
    at.run()
    assert not at.exception, at.exception
    return at


def test_library_view_buttons_open_the_viewer_on_the_document_and_on_a_passage(data_dir: Path) -> None:
    from kb.index.knowledge import KnowledgeBase

    doc = next(d for d in KnowledgeBase(Settings()).store.docs() if d.title.startswith("Ransomware"))
    at = _open_in_library(doc.doc_id)
    views = [b for b in at.button if b.label.startswith("View")]
    assert views[0].label == "View" and len(views) == 1 + doc.chunk_count  # the document, and each passage
    views[0].click().run()
    assert not at.exception, at.exception
    assert "The whole document, from its start." in [c.value for c in at.caption]
    at = _open_in_library(doc.doc_id)
    next(b for b in at.button if b.label == "View in the document").click().run()
    assert not at.exception, at.exception
    assert any(c.value.endswith("quoted sentence(s) marked") for c in at.caption), [c.value for c in at.caption]


def test_library_view_is_offered_only_for_files_in_the_library_folders(data_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The same guard as the chat's viewer: a document outside, or reached by a symbolic link out, gets no View."""
    from ingest.pipeline import run_ingest
    from kb.index.knowledge import KnowledgeBase

    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "salaries.md"
    secret.write_text("# Salaries\n\nThe salary table of the district office staff is kept here for payroll.\n")
    library = tmp_path / "own-library"
    library.mkdir()
    (library / "linked.md").symlink_to(secret)
    monkeypatch.setenv("CTO_LIBRARY_DIR", str(library))
    st.cache_resource.clear()
    kb = KnowledgeBase(Settings())
    assert run_ingest(kb, [str(library)]).counts() == {"added": 1}
    linked = next(d for d in kb.store.docs() if d.title == "Salaries")
    assert linked.source == str(secret.resolve())  # ingest follows the link: the file is outside the library
    ransomware = next(d for d in kb.store.docs() if d.title.startswith("Ransomware"))  # repo library: not this one's
    for doc in (linked, ransomware):
        at = _open_in_library(doc.doc_id)
        assert at.subheader[0].value == doc.title
        assert not [b for b in at.button if b.label.startswith("View")], doc.source


def test_library_is_read_only_without_a_staff_password(data_dir: Path) -> None:
    at = page_test("library").run()
    info = " ".join(i.value for i in at.info)
    assert "kb hash-password" in info and "CTO_STAFF_PASSWORD_HASH" in info
    assert not at.file_uploader and not [b for b in at.button if b.label == "Remove document"]


def _staff_page(monkeypatch: pytest.MonkeyPatch, password: str) -> AppTest:
    from kb.governance.auth import hash_password

    monkeypatch.setenv("CTO_STAFF_PASSWORD_HASH", hash_password(password, iterations=1000))
    st.cache_resource.clear()
    return page_test("library").run()


def _sign_in(at: AppTest, password: str) -> AppTest:
    next(t for t in at.text_input if t.label == "Staff password").input(password)
    next(b for b in at.button if b.label == "Sign in").click().run()
    assert not at.exception
    return at


def test_wrong_staff_passwords_are_refused_then_slowed_down(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _staff_page(monkeypatch, "the right password")
    for _ in range(3):
        _sign_in(at, "a wrong guess")
        assert "Wrong password" in at.error[0].value
    _sign_in(at, "a wrong guess")  # the fourth in a row starts a lock-out
    assert "Try again in 2 seconds" in at.error[0].value
    _sign_in(at, "the right password")  # refused unchecked while locked out
    assert "Try again in" in at.error[0].value and not at.file_uploader
    assert "the right password" not in _markdown(at) + " ".join(e.value for e in at.error)


def test_staff_upload_is_saved_safely_indexed_and_then_answers(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _sign_in(_staff_page(monkeypatch, "staff password"), "staff password")
    assert any("Signed in as staff" in m.value for m in at.markdown)
    policy = ("---\ntitle: Lakeside drone policy\nareas: [digital-equity]\n---\n\n## Approval\n\nDrone flights over "
              "Lakeside school grounds need written approval from the technology office ten school days ahead.\n")
    at.file_uploader[0].upload("../Lakeside drone policy.md", policy.encode(), "text/markdown")
    at.run()
    next(b for b in at.button if b.label == "Add to the library").click().run()
    assert not at.exception and not at.error
    assert any("Last upload: 1 added" in m.value for m in at.success)
    saved = data_dir / "uploads" / "Lakeside-drone-policy.md"
    assert saved.is_file() and saved.read_text() == policy
    assert "Lakeside drone policy" in set(at.dataframe[0].value["Title"])

    chat = _ask(page_test("chat").run(), "What approval do Lakeside drone flights over school grounds need?")
    answer = chat.session_state["chat_turns"][0].answer
    assert answer.citations[0].title == "Lakeside drone policy"  # the shared knowledge base was refreshed


def test_staff_upload_with_a_partial_date_is_refused_with_the_accepted_form(data_dir: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    at = _sign_in(_staff_page(monkeypatch, "staff password"), "staff password")
    at.file_uploader[0].upload("note.md", b"# Note\n\nRostering runs nightly from the SIS.\n", "text/markdown")
    at.run()
    at.text_input(key="lib_up_pub_0").input("March 2024").run()
    next(b for b in at.button if b.label == "Add to the library").click().run()
    assert not at.exception
    assert at.error and at.error[0].value == ("Nothing was added. published: 'March 2024' is not a date; write it as "
                                              "YYYY-MM-DD, for example 2024-03-01 (also YYYY/MM/DD, YYYY-MM, YYYY or "
                                              "a timestamp).")
    assert not (data_dir / "uploads").exists()


def test_staff_removal_deletes_the_document_and_its_uploaded_file(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.index.knowledge import KnowledgeBase

    at = _sign_in(_staff_page(monkeypatch, "staff password"), "staff password")
    doc = next(d for d in KnowledgeBase(Settings()).store.docs() if d.title.startswith("E-Rate"))
    at.selectbox(key="lib_remove").set_value(doc.doc_id)
    next(b for b in at.button if b.label == "Remove document").click().run()
    assert any("tick the confirmation" in w.value for w in at.warning)  # nothing removed without it
    at.checkbox(key="lib_remove_ok").check()
    next(b for b in at.button if b.label == "Remove document").click().run()
    assert not at.exception
    assert any(m.value.startswith("Removed: E-Rate basics") for m in at.success)
    assert doc.doc_id not in {d.doc_id for d in KnowledgeBase(Settings()).store.docs()}
    assert len(at.dataframe[0].value) == 2


# ----- evaluation -----------------------------------------------------------------------------------
def test_evaluation_without_a_report_says_how_to_make_one(data_dir: Path) -> None:
    at = page_test("evaluation").run()
    assert not at.exception and not at.error
    assert "python -m eval run" in at.info[0].value


def test_evaluation_shows_the_report_charts_and_feedback(data_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(os.environ["CTO_REPORTS_DIR"]) / "eval"
    folder.mkdir(parents=True)
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    fig.savefig(folder / "recall.png")
    plt.close(fig)
    (folder.parent / "outside.png").write_bytes((folder / "recall.png").read_bytes())
    report = {"generated_at": "2026-11-01T10:00:00", "gold": "library_cybersecurity",
              "overall": {"recall@5": 0.91, "citation_precision": 0.88},
              "per_area": {"cybersecurity": {"recall@5": 0.9}, "budgets-funding": {"recall@5": 0.8}},
              "config": {"fusion": "rrf"}, "charts": ["recall.png", "../outside.png", "missing.png"]}
    (folder / "latest.json").write_text(json.dumps(report))
    Journal(data_dir).record_feedback("a1", "Is MFA worth it?", rating=1)
    Journal(data_dir).record_feedback("a1", "Is MFA worth it?", rating=1, comment="very clear")
    Journal(data_dir).record_feedback("a2", "What about bread?", rating=-1)
    at = page_test("evaluation").run()
    assert not at.exception and not at.error
    assert {m.label: m.value for m in at.metric}["recall@5"] == "0.910"
    per_area = at.dataframe[0].value
    assert list(per_area.index) == ["Cybersecurity and privacy", "Budgets and funding"]
    assert len(at.image) == 1  # only the chart inside the report folder
    feedback = at.dataframe[1].value
    assert list(feedback["Rating"]) == ["Thumbs down", "Thumbs up"]
    assert list(feedback["Comment"]) == ["", "very clear"]


def test_evaluation_shows_slices_apart_from_the_areas(data_dir: Path) -> None:
    folder = Path(os.environ["CTO_REPORTS_DIR"]) / "eval"
    folder.mkdir(parents=True)
    report = {"generated_at": "2026-11-29T18:00:00", "gold": "k12docs", "overall": {"answer_rate": 0.98},
              "per_area": {"cybersecurity": {"answer_rate": 0.97}},
              "slices": {"casual": {"answer_rate": 0.93, "abstain_recall": 0.6, "questions": 53.0}}}
    (folder / "latest.json").write_text(json.dumps(report))
    at = page_test("evaluation").run()
    assert not at.exception and not at.error
    assert any(m.value.startswith("**Slices**") for m in at.markdown)
    slices = at.dataframe[1].value
    assert list(slices.index) == ["casual"] and slices.loc["casual", "abstain_recall"] == 0.6


# ----- errors -------------------------------------------------------------------------------------
def test_a_setup_error_is_a_clear_message_not_a_traceback(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTO_CHUNK_SIZE", "1000")  # the store was built with 900
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "kb reset" in at.error[0].value and at.error[0].value.startswith("Could not answer your question")


def test_an_invalid_setting_names_the_variable(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTO_TOP_K", "lots")
    at = page_test("library").run()
    assert not at.exception
    assert "CTO_TOP_K" in at.error[0].value


def test_an_unexpected_error_shows_a_reference_and_logs_details(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    (data_dir / "journal.sqlite3").write_bytes(b"this is not a database")
    at = page_test("evaluation").run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Something went wrong while trying to show the evaluation") and "reference" in message
    assert "Traceback" not in message
    assert any(r.levelname == "ERROR" and r.exc_info for r in caplog.records)


def test_sidebar_filters_include_authority_and_jurisdiction() -> None:
    from kb.core.metadata import JURISDICTIONS
    from ui.chat import build_filters

    assert "New Hampshire" in JURISDICTIONS and JURISDICTIONS[0] == "national" and len(JURISDICTIONS) == 52  # 50 states, DC
    filters = build_filters([], None, authorities=["federal"], jurisdictions=["Texas"])
    assert filters.authorities == ("federal",) and filters.jurisdictions == ("Texas",)
    assert filters.chroma_where() == {"$and": [{"authority": {"$in": ["federal"]}}, {"jurisdiction": {"$in": ["Texas"]}}]}
