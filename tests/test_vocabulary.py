"""The library's own vocabulary: acronyms and numbered terms found at indexing, expanded in questions."""

from __future__ import annotations

import pytest

from kb.answering.assistant import Assistant
from kb.answering.relevance_gate import unknown_names
from kb.answering.retrieval import Passage
from kb.core.documents import Chunk, DocRecord
from kb.core.settings import Settings
from kb.index.keyword import KeywordIndex, tokenize
from kb.index.knowledge import DONE, KnowledgeBase
from kb.index.vocabulary import Vocabulary, find_terms, load_glossary, load_plain_words

ERATE = ("E-Rate Category One covers data transmission services and internet access to the school. "
         "Category Two (C2) covers internal connections: switches, routers, wireless access points and "
         "basic firewall service, within a five-year budget per school.")
SECURITY = ("Require multi-factor authentication (MFA) for every staff account, starting with email and the "
            "student information system (SIS). Single sign-on (SSO) reduces the number of passwords.")
OFFBOARDING = "When staff leave, disable their accounts the same day and recover devices."
FRAMEWORK = ("The NIST Cybersecurity Framework organises a security program into six functions; its Recover "
             "function covers restoring systems and keeping leadership and the public informed after an incident.")


def test_acronym_definitions_are_found_both_ways_round() -> None:
    terms = find_terms(SECURITY + " The Consortium for School Networking (CoSN) and Access 4 Learning (A4L) "
                       "publish guides. EDR (endpoint detection and response) stops ransomware. Power over Ethernet (PoE) "
                       "switches cost more.")
    assert "MFA=multi-factor authentication" in terms["acronyms"]
    assert "SIS=student information system" in terms["acronyms"]
    assert "SSO=Single sign-on" in terms["acronyms"]
    assert "CoSN=Consortium for School Networking" in terms["acronyms"]
    assert "A4L=Access 4 Learning" in terms["acronyms"]
    assert "EDR=endpoint detection and response" in terms["acronyms"]
    assert "PoE=Power over Ethernet" in terms["acronyms"]


@pytest.mark.parametrize("text", [
    "Information Technology Industry Council (ITI) members",  # the tail "Industry Council" does not spell ITI
    "CISA publishes free Tabletop Exercise Packages (CTEPs) for schools",  # "CISA publishes ..." is not CTEPs
    "district costs (FY2025) rose by a tenth",  # a year, not an acronym definition
    "switches (see Figure 2) and routers",
])
def test_parentheses_that_define_nothing_are_ignored(text: str) -> None:
    assert find_terms(text)["acronyms"] == []


def test_numbered_terms_and_a_digit_acronym() -> None:
    terms = find_terms(ERATE + " Title IV grants and Tier 2 supports.")
    assert {"Category One", "Category Two", "Title IV", "Tier 2"} <= set(terms["numbered"])
    assert "C2=Category Two" in terms["acronyms"]


def test_questions_are_expanded_with_the_library_s_own_words() -> None:
    vocabulary = Vocabulary.from_terms({"erate": find_terms(ERATE), "security": find_terms(SECURITY)})
    assert vocabulary.expand("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?") == (
        "Cat 1 vs Cat 2 in E-Rate: what falls in each bucket? (Category One; Category Two)")
    assert vocabulary.expansions("do we need mfa before sso?") == ["multi-factor authentication", "single sign-on"]
    assert vocabulary.expansions("what does c2 pay for") == ["category two"]
    assert vocabulary.expansions("which SISs support MFA?") == ["student information system", "multi-factor authentication"]
    # already spelled out, stop words, or a number that is not an informal term: nothing to add
    assert vocabulary.expand("Does Category Two cover firewalls?") == "Does Category Two cover firewalls?"
    assert vocabulary.expansions("is it for one year or for 2 years?") == []
    assert vocabulary.expand(vocabulary.expand("cat 2")) == vocabulary.expand("cat 2")  # idempotent


def test_an_ambiguous_informal_head_expands_nothing() -> None:
    vocabulary = Vocabulary.from_terms({"a": {"numbered": ["Category Two", "Catalog Two"]}})
    assert vocabulary.expansions("cat 2 costs") == []
    assert vocabulary.expansions("categ 2 costs") == ["Category Two"]


def _add(kb: KnowledgeBase, doc_id: str, text: str, version: str = "1") -> None:
    chunk = Chunk(id=f"{doc_id}-0-{version}", doc_id=doc_id, index=0, text=text, title=doc_id,
                  source=f"/lib/{doc_id}.md", source_type="md")
    kb.store.delete_chunks(doc_id)
    kb.store.add_chunks([chunk], kb.embedder.embed_batch([chunk.embed_text]))
    kb.store.put_doc(DocRecord(doc_id=doc_id, source=chunk.source, source_type="md", title=doc_id,
                               content_hash=f"{doc_id}-{version}", status=DONE, chunk_count=1))


@pytest.fixture
def kb(hash_settings: Settings) -> KnowledgeBase:
    kb = KnowledgeBase(hash_settings)
    for doc_id, text in (("erate", ERATE), ("security", SECURITY), ("offboarding", OFFBOARDING)):
        _add(kb, doc_id, text)
    kb.refresh(force=True)
    return kb


def test_the_index_keeps_terms_per_document_incrementally_and_on_disk(kb: KnowledgeBase) -> None:
    assert kb.keyword.vocabulary.acronyms["MFA"] == "multi-factor authentication"
    _add(kb, "security", "Endpoint detection and response (EDR) watches laptops.", "2")
    kb.store.delete_doc("erate")
    assert kb.refresh(force=True)
    vocabulary = kb.keyword.vocabulary
    assert "MFA" not in vocabulary.acronyms and vocabulary.acronyms["EDR"] == "endpoint detection and response"
    assert vocabulary.expansions("cat 2") == []  # the E-Rate document and its terms are gone
    assert set(kb.keyword.terms) == {"security", "offboarding"}

    reopened = KnowledgeBase(kb.settings)
    assert reopened.keyword.terms == kb.keyword.terms  # loaded from disk, not rebuilt
    rebuilt = KeywordIndex.build(kb.store.iter_chunks())
    assert rebuilt.terms == kb.keyword.terms


def _with_and_without_expansion(kb: KnowledgeBase, question: str) -> tuple[list[Passage], list[Passage]]:
    """The best passage for ``question`` with vocabulary expansion on, and with it off (same store, same vector)."""
    on = Assistant(kb.settings, kb=kb, journal=None).retriever.retrieve(question, k=1)
    off_settings = kb.settings.with_overrides(expand_vocabulary=False)
    off = Assistant(off_settings, kb=KnowledgeBase(off_settings, embedder=kb.embedder, store=kb.store),
                    journal=None).retriever.retrieve(question, k=1, query_vector=kb.embedder.embed_batch([question])[0])
    return on, off


def test_retrieval_finds_the_defined_term_only_with_expansion(kb: KnowledgeBase) -> None:
    on, off = _with_and_without_expansion(kb, "what does cat 2 pay for?")
    assert on[0].chunk.doc_id == "erate" and on[0].keyword is not None
    assert not off or off[0].keyword is None  # "cat" and "2" are not the library's words


def test_the_shipped_glossary_is_well_formed() -> None:
    glossary = load_glossary()
    assert glossary["CSF"] == ("cybersecurity framework", False) and glossary["SEA"] == ("state educational agency", True)
    assert len(glossary) >= 60
    for short, (long, capitals_only) in glossary.items():
        assert tokenize(long), short  # a long form of searchable words
        assert capitals_only or short.lower() not in ("it", "us", "am", "as", "is", "or"), short


def test_a_standard_acronym_expands_where_the_library_writes_its_long_form_not_the_acronym(kb: KnowledgeBase) -> None:
    """The library says "Cybersecurity Framework", the user types "CSF": the glossary bridges them."""
    _add(kb, "framework", FRAMEWORK)
    kb.refresh(force=True)
    vocabulary = kb.keyword.vocabulary
    assert vocabulary.expansions("does the NIST CSF say anything about recovery?") == ["cybersecurity framework"]
    assert vocabulary.expansions("what does the csf expect after an attack") == ["cybersecurity framework"]
    # the library's own definitions win; an acronym whose long form the library never writes adds nothing
    assert vocabulary.expansions("mfa and EDR on laptops") == ["multi-factor authentication"]
    assert vocabulary.expansions("the sea was rough") == []  # "SEA" expands only as typed in capitals
    assert vocabulary.defines("CSF") and not vocabulary.defines("EDR")
    assert unknown_names("What does the CSF expect of us?", kb.keyword) == []
    assert unknown_names("What does the EDR console expect of us?", kb.keyword) == ["EDR"]


def test_an_acronym_the_library_writes_itself_keeps_the_library_s_meaning(kb: KnowledgeBase) -> None:
    _add(kb, "framework", FRAMEWORK)
    _add(kb, "lab", "A CSF sample is drawn by lumbar puncture and sent to the laboratory.")
    kb.refresh(force=True)
    assert kb.keyword.vocabulary.expansions("what does the CSF sample show?") == []


def test_retrieval_finds_the_long_form_of_a_standard_acronym(kb: KnowledgeBase) -> None:
    _add(kb, "framework", FRAMEWORK)
    kb.refresh(force=True)
    on, off = _with_and_without_expansion(kb, "what does the CSF expect?")
    assert on[0].chunk.doc_id == "framework" and on[0].keyword is not None
    assert not off or off[0].keyword is None  # "csf" and "expect" are no words of the library


DEPROVISIONING = ("Define deprovisioning rules in writing: when a staff member leaves, disable accounts at the "
                  "identity provider the same day. A written standard sets target times for departing staff.")


def test_the_shipped_plain_words_are_well_formed() -> None:
    entries = load_plain_words()
    assert entries[("quits", "quit", "quitting", "resign*", "fired", "leaves the district", "leave the district",
                    "left the district", "offboard*")] == ("departing staff", "staff separation", "deprovisioning")
    assert len(entries) >= 15
    for phrases, terms in entries.items():
        assert all(tokenize(t) for t in terms), terms  # terms of searchable words
        for phrase in phrases:
            assert "*" not in phrase.rstrip("*") and tokenize(phrase.rstrip("*")), phrase
            assert len(phrase.rstrip("*")) >= 4 or not phrase.endswith("*"), phrase  # "quit*" would match "quite"


def test_everyday_phrases_expand_to_the_library_s_terms_as_whole_words() -> None:
    vocabulary = Vocabulary(plain={("quits", "quit", "resign*"): ("departing staff", "deprovisioning"),
                                   ("lose access",): ("disable accounts",)})
    assert vocabulary.expansions("When an employee quits, how do we make sure they lose  access to everything?") == [
        "departing staff", "deprovisioning", "disable accounts"]
    assert vocabulary.expansions("our bookkeeper RESIGNED friday") == ["departing staff", "deprovisioning"]
    assert vocabulary.expansions("is that quite enough?") == []  # a phrase is a whole word, "*" only where written
    assert vocabulary.expansions("a teacher quits: what does deprovisioning involve?") == ["departing staff"]  # not twice
    # the user's abbreviations come first within the cap
    both = Vocabulary(acronyms={"MFA": "multi-factor authentication"}, plain={("quits",): ("a b", "c d", "e f", "g h", "i j", "k l")})
    assert both.expansions("mfa when staff quits")[:2] == ["multi-factor authentication", "a b"]
    assert len(both.expansions("mfa when staff quits")) == 6


def test_a_plain_term_counts_only_where_the_library_writes_every_word_of_it(kb: KnowledgeBase) -> None:
    _add(kb, "sso", DEPROVISIONING)
    kb.refresh(force=True)
    plain = kb.keyword.vocabulary.plain
    leaving = next(terms for phrases, terms in plain.items() if "quits" in phrases)
    assert leaving == ("departing staff", "deprovisioning")  # the library never writes "staff separation"
    assert not any("tabletop exercise" in terms for terms in plain.values())  # nor "tabletop"


def test_retrieval_finds_the_deprovisioning_passage_for_an_everyday_question(kb: KnowledgeBase) -> None:
    _add(kb, "sso", DEPROVISIONING)
    _add(kb, "devices", "Recover devices from students at the end of the year and check them for damage.")
    kb.refresh(force=True)
    on, off = _with_and_without_expansion(kb, "an employee quits: what now?")
    assert on[0].chunk.doc_id == "sso" and on[0].keyword is not None
    assert not off or off[0].chunk.doc_id != "sso" or off[0].keyword is None
