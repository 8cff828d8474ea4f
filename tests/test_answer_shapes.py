"""Question shapes, the layout they get, and multi-part questions (real sentences from the libraries)."""

from __future__ import annotations

import pytest

from kb.answering.extractive import ExtractiveComposer
from kb.answering.layout import render
from kb.answering.multipart import split_question
from kb.answering.readability import violations
from kb.answering.retrieval import Passage
from kb.answering.shapes import Shape, compare_sides, question_shape, shape_fit
from kb.core.answer import Draft
from kb.core.documents import Chunk
from kb.embed.hashing import HashEmbedder


@pytest.mark.parametrize(("question", "shape"), [
    ("What is Category Two in E-Rate?", Shape.DEFINE),
    ("What does FERPA stand for?", Shape.DEFINE),
    ("How do we run a tabletop exercise for ransomware?", Shape.STEPS),
    ("When an employee quits, how do we make sure they lose access to everything?", Shape.STEPS),
    ("Our board wants to cut the cybersecurity budget. What should we protect first against ransomware?",
     Shape.PRIORITY),
    ("Which controls matter most for cyber insurance?", Shape.PRIORITY),
    ("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?", Shape.COMPARE),
    ("What is the difference between LTI and OneRoster?", Shape.COMPARE),
    ("How much of that can E-Rate pay for?", Shape.AMOUNT),
    ("What percentage discount do high-poverty districts get?", Shape.AMOUNT),
    ("How long should we keep laptops before replacing them?", Shape.DURATION),
    ("How often should we revisit the incident response plan?", Shape.DURATION),
    ("When did the amended COPPA rule take effect?", Shape.WHEN),
    ("Who should approve the incident response policy?", Shape.WHO),
    ("Tell me about digital equity surveys.", Shape.GENERAL),
])
def test_question_shapes(question: str, shape: Shape) -> None:
    assert question_shape(question).shape is shape


def test_compare_sides() -> None:
    assert compare_sides("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?") == ("Cat 1", "Cat 2")
    assert compare_sides("What is the difference between LTI and OneRoster?") == ("LTI", "OneRoster")


def test_shape_fit_prefers_the_sentence_carrying_what_is_asked() -> None:
    amount = "Discounts range from 20% to 90% of the cost of eligible services."
    prose = "E-Rate supports connectivity for schools and libraries."
    assert shape_fit(Shape.AMOUNT, amount) > shape_fit(Shape.AMOUNT, prose)
    assert shape_fit(Shape.WHEN, "The rule took effect on June 23, 2025.") > shape_fit(Shape.WHEN, prose)
    assert shape_fit(Shape.DURATION, "Laptops are replaced every four to five years.") > shape_fit(Shape.DURATION, prose)
    assert shape_fit(Shape.WHO, "The superintendent approves the policy.") > shape_fit(Shape.WHO, prose)
    assert shape_fit(Shape.DEFINE, "Ransomware is a type of malware that encrypts files.") == 1.0
    assert shape_fit(Shape.STEPS, "Disable the account on the last day.", item=True) > shape_fit(Shape.STEPS, prose)


def _passage(n: int, text: str, score: float, title: str = "Doc") -> Passage:
    chunk = Chunk(id=f"c{n}", doc_id=f"d{n}", index=0, text=text, title=f"{title} {n}", source=f"/lib/{n}.md",
                  source_type="md", date="2024-05-01")
    return Passage(chunk, score, dense=score)


STEPS = ("When a staff member leaves, IT should follow a written offboarding checklist:\n"
         "1. Disable the directory account on the last working day.\n"
         "2. Revoke single sign-on sessions and remove the person from every group.\n"
         "3. Transfer ownership of shared files to the manager before deleting the account.\n"
         "4. Collect the laptop, badge and any tokens, and record their return.")
OTHER = ("Password policies should require long passphrases. This reduces the number of reset requests. "
         "The [Federal Education Rights Privacy Act (FERPA)][16] protects student records.")


def _text(draft: Draft) -> list[str]:
    return [c.text for c in draft.lead + draft.points]


def test_steps_come_as_a_numbered_list_under_their_lead_in() -> None:
    draft = ExtractiveComposer(HashEmbedder()).compose(
        "How do we make sure a leaving employee loses access?", [_passage(1, STEPS, 0.8), _passage(2, OTHER, 0.3)])
    claims = draft.lead + draft.points
    texts = [c.text for c in claims]
    steps = [c for c in claims if c.kind == "step"]
    assert len(steps) >= 3
    order = [texts.index(c.text) for c in steps]
    assert order == sorted(order)  # in the source's order
    lead_in = texts.index("When a staff member leaves, IT should follow a written offboarding checklist:")
    assert lead_in < order[0]
    pairs = [(c.text, [STEPS if 0 in c.sources else OTHER]) for c in claims]
    assert violations(pairs) == []


def test_markdown_and_dangling_references_never_reach_the_answer() -> None:
    draft = ExtractiveComposer(HashEmbedder()).compose(
        "What does FERPA protect and how do passphrases reduce resets?", [_passage(1, OTHER, 0.8)])
    texts = _text(draft)
    assert any("Federal Education Rights Privacy Act (FERPA) protects" in t for t in texts)
    assert not any("][" in t for t in texts)
    for t in texts:  # "This reduces..." only ever comes right after the sentence it refers to
        assert not t.startswith("This reduces")


def test_compare_leads_with_both_sides_each_cited() -> None:
    one = _passage(1, "Category One covers connectivity to the school, such as internet access and wide area "
                      "network circuits.", 0.6, "E-Rate")
    two = _passage(2, "Category Two covers internal connections inside the building, such as Wi-Fi access points, "
                      "switches and their licences.", 0.6, "E-Rate")
    draft = ExtractiveComposer(HashEmbedder()).compose("Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?",
                                                       [one, two])
    assert len(draft.lead) == 2
    assert {tuple(c.sources) for c in draft.lead} == {(0,), (1,)}
    assert draft.lead[0].text.startswith("Category One")


def test_amount_question_leads_with_the_figure() -> None:
    text = ("E-Rate helps schools pay for broadband and networks. Discounts range from 20% to 90% of the cost of "
            "eligible services, depending on poverty and rural status. Applications are filed each winter.")
    draft = ExtractiveComposer(HashEmbedder()).compose("How much of the cost can E-Rate pay for?", [_passage(1, text, 0.7)])
    assert "20% to 90%" in draft.lead[0].text


def test_multi_part_questions_split_into_standalone_parts() -> None:
    parts = split_question("What should we protect first against ransomware and how much will it cost?")
    assert [p.asked for p in parts] == ["What should we protect first against ransomware?", "How much will it cost?"]
    assert "ransomware" in parts[1].standalone  # the leaning part borrows the first part's subject
    parts = split_question("What is E-Rate? Who approves the district technology plan and its budget each spring?")
    assert [p.standalone for p in parts] == [  # a part that names its own subject is asked as it is
        "What is E-Rate?", "Who approves the district technology plan and its budget each spring?"]
    parts = split_question("How much money was in the FCC's cybersecurity pilot and how many applicants got picked?")
    assert parts[1].standalone.startswith("How much money was in the FCC's cybersecurity pilot")
    context = split_question("Our board wants to cut the budget. What should we protect first?")
    assert len(context) == 1  # statements before one question are not a second question
    for single in ["What are the pros and cons of 1:1 devices?", "Cat 1 vs Cat 2 in E-Rate: what falls in each bucket?",
                   "When an employee quits, how do we make sure they lose access to everything?"]:
        assert len(split_question(single)) == 1


def test_source_labels_are_short_and_end_on_a_word() -> None:
    from kb.answering.compose_plan import short_label

    assert short_label("Federal K-12 cybersecurity recommendations, the FCC cybersecurity pilot and free resources") \
        == "Federal K-12 cybersecurity recommendations"
    assert short_label("Student privacy laws and IT decisions: FERPA, COPPA, CIPA, PPRA and state laws") \
        == "Student privacy laws and IT decisions"
    long = short_label("Making the case to the board for technology spending in districts of every size and shape")
    assert len(long) <= 56 and not long.endswith((" for", " the", " of", " in"))
    # a title just over the limit loses its last phrase whole, not half of it ("... for school")
    assert short_label("Ransomware preparedness and response for school districts") \
        == "Ransomware preparedness and response"
    assert short_label("Running a 1:1 student device program: planning, management, repair and refresh") \
        == "Running a 1:1 student device program"  # "1:1" is not where the title breaks


# The starter library's ransomware brief: a numbered list under a heading (no lead-in line), in source order.
RANSOMWARE_BEFORE = (
    "Before an attack (preparation)\n\n"
    "1. Keep at least one copy of critical backups offline or immutable so that an attacker with domain "
    "administrator rights cannot delete or encrypt it.\n"
    "2. Test restores of the student information system, finance system, and identity system at least twice a "
    "year and record how long each restore took.\n"
    "3. Turn on multi-factor authentication for email, remote access, VPN, cloud administration, and every "
    "privileged account, because stolen passwords are a leading way ransomware crews get in.\n"
    "4. Patch internet-facing systems first, using CISA's Known Exploited Vulnerabilities (KEV) catalog to decide "
    "which flaws to fix within days rather than weeks.")
RANSOMWARE_WHAT = (
    "Ransomware is malicious software that encrypts a district's files and systems so that they cannot be used "
    "until a ransom is paid for a decryption key. School districts are attractive ransomware targets because they "
    "hold sensitive records on minors and cannot tolerate long outages during the school year.")


def test_a_priorities_question_leads_with_the_prioritised_list_in_source_order() -> None:
    passages = [_passage(1, RANSOMWARE_WHAT, 0.62), _passage(2, RANSOMWARE_BEFORE, 0.6)]
    question = "Our board wants to cut the cybersecurity budget. What should we protect first against ransomware?"
    draft = ExtractiveComposer(HashEmbedder(), list_lead=True).compose(question, passages)
    assert draft.lead[0].kind == "step" and draft.lead[0].sources == [1]
    steps = [c.text for c in draft.lead + draft.points if c.kind == "step"]
    assert len(steps) >= 2
    order = [RANSOMWARE_BEFORE.index(t) for t in steps]
    assert order == sorted(order)  # the source's priority order
    text = render(draft, lambda c: c.text)
    assert text.startswith("1. ") or "\n1. " in text.split("\n\n")[0]
    assert "\n2. " in text  # the list goes on numbered from the lead


def test_entries_of_one_list_are_not_each_others_repeats() -> None:
    from kb.answering.sentences import passage_sentences, siblings

    sentences = passage_sentences(RANSOMWARE_BEFORE)
    keys = {siblings(sentences, s.position) for s in sentences if s.item is not None}
    assert len(keys) == 1 and None not in keys
    assert siblings(sentences, 0) is None  # the heading line is not an entry


def test_list_first_puts_a_close_list_ahead_in_source_order_only_for_steps_and_priorities() -> None:
    from kb.answering.extractive import _list_first, candidates
    from kb.answering.shapes import QuestionShape

    passages = [_passage(1, RANSOMWARE_WHAT, 0.7), _passage(2, RANSOMWARE_BEFORE, 0.6)]
    items = candidates(passages)
    for c in items:  # the list's last entry would open the answer best; prose of passage 0 ranks first by score
        c.score = 0.70 if c.passage == 0 else 0.60 + 0.02 * c.position
        c.similarity = 0.50 if c.passage == 0 else 0.40 + 0.05 * c.position
    ranked = sorted(items, key=lambda c: -c.score)
    entries = [c for c in items if c.passage == 1 and c.item]
    reordered = _list_first(ranked, QuestionShape(Shape.PRIORITY))
    assert reordered[:len(entries)] == sorted(entries, key=lambda c: c.position)
    assert sorted(map(id, reordered)) == sorted(map(id, ranked))  # nothing lost
    assert _list_first(ranked, QuestionShape(Shape.DEFINE)) == ranked
    for c in entries:
        c.similarity -= 0.2  # the prose now opens the answer best: the ranking stays
    ranked = sorted(items, key=lambda c: -c.score)
    assert _list_first(ranked, QuestionShape(Shape.STEPS)) == ranked


def test_a_leading_step_opens_a_numbered_list_and_each_source_numbers_from_one() -> None:
    from kb.core.answer import Claim

    lead = [Claim("Keep at least one copy of critical backups offline or immutable.", [0], kind="step", group="Ransomware")]
    points = [Claim("Turn on multi-factor authentication for email and remote access.", [0], kind="step", group="Ransomware"),
              Claim("Form a team with a curriculum leader and the CTO.", [1], kind="step", group="Digital citizenship"),
              Claim("Write a grade-by-grade scope and sequence.", [1], kind="step", group="Digital citizenship")]
    text = render(Draft(lead=lead, points=points), lambda c: c.text)
    assert text == ("Ransomware:\n1. Keep at least one copy of critical backups offline or immutable.\n"
                    "2. Turn on multi-factor authentication for email and remote access.\n\n"
                    "Digital citizenship:\n1. Form a team with a curriculum leader and the CTO.\n"
                    "2. Write a grade-by-grade scope and sequence.")
    prose = Draft(lead=[Claim("Ransomware is malicious software.", [0], group="Ransomware")], points=points[:1])
    assert render(prose, lambda c: c.text) == ("Ransomware is malicious software.\n\n"
                                               "1. Turn on multi-factor authentication for email and remote access.")


def test_steps_of_another_passage_start_their_own_numbering() -> None:
    from kb.core.answer import Claim

    lead = [Claim("Write a ransomware annex to the incident response plan.", [0], kind="step", group="Ransomware")]
    points = [Claim("Pre-register with federal partners.", [0], kind="step", group="Ransomware"),
              Claim("Isolate affected systems by disconnecting them from the network.", [1], kind="step",
                    group="Ransomware")]
    text = render(Draft(lead=lead, points=points), lambda c: c.text)
    assert text == ("1. Write a ransomware annex to the incident response plan.\n"
                    "2. Pre-register with federal partners.\n"
                    "1. Isolate affected systems by disconnecting them from the network.")


def test_steps_quoted_from_the_middle_of_a_list_show_the_source_numbers() -> None:
    from kb.core.answer import Claim

    # "what first" quoting items 7 and 9 of a ten-step list: numbered 1 and 2 they would read as the first steps
    lead = [Claim("Write a ransomware annex to the incident response plan.", [0], kind="step", group="Ransomware",
                  number=7)]
    points = [Claim("Pre-register with federal partners.", [0], kind="step", group="Ransomware", number=9),
              Claim("Decide in advance the district's position on ransom payment.", [0], kind="step",
                    group="Ransomware", number=10),
              Claim("Isolate affected systems by disconnecting them from the network.", [1], kind="step",
                    group="Ransomware", number=1)]
    text = render(Draft(lead=lead, points=points), lambda c: c.text)
    assert text == ("7. Write a ransomware annex to the incident response plan.\n"
                    "9. Pre-register with federal partners.\n"
                    "10. Decide in advance the district's position on ransom payment.\n"
                    "1. Isolate affected systems by disconnecting them from the network.")


def test_the_source_number_of_a_list_item_is_kept_on_its_sentence() -> None:
    from kb.answering.sentences import passage_sentences

    sentences = passage_sentences(
        "7. Write a ransomware annex to the incident response plan that names who can order systems offline. "
        "It also names who talks to families and media.\n"
        "12) Print the emergency contact sheet on paper, because email and VoIP phones may be unavailable.\n\n"
        "- Ask the insurer which forensic firms and lawyers it has approved before an incident happens.")
    numbers = {s.text.split()[0]: s.number for s in sentences}
    assert numbers == {"Write": 7, "It": None, "Print": 12, "Ask": None}  # an item's first sentence only


RANSOMWARE_DURING = (
    "During an attack (the first 72 hours)\n\n"
    "1. Isolate affected systems by disconnecting them from the network, but do not power them off unless "
    "instructed, because memory contents can help forensic investigators.\n"
    "2. Call the cyber insurance carrier's claims or breach hotline first, because many policies only pay for "
    "forensic firms and lawyers that the carrier has approved.")


def test_two_lists_of_one_document_are_labelled_with_their_sections() -> None:
    def part(n: int, text: str, section: str, score: float) -> Passage:
        chunk = Chunk(id=f"r{n}", doc_id="ransomware", index=n, text=text, source="/lib/ransomware.md",
                      title="Ransomware preparedness and response for school districts", source_type="md",
                      section=section, date="2026-11-28")
        return Passage(chunk, score, dense=score)

    passages = [part(0, RANSOMWARE_BEFORE, "Before an attack (preparation)", 0.62),
                part(1, RANSOMWARE_DURING, "During an attack (the first 72 hours)", 0.6)]
    draft = ExtractiveComposer(HashEmbedder()).compose("What are the ransomware steps before and during an attack?",
                                                      passages)
    text = render(draft, lambda c: c.text)
    assert "Ransomware preparedness and response · Before an attack:" in text
    assert "Ransomware preparedness and response · During an attack:" in text
    # each list restarts at 1 under its own section's label, never as steps 5-6 of the first list
    assert text.index("During an attack:") < text.index("1. Isolate affected systems")


def test_a_list_lead_in_stays_under_the_same_section_label_as_its_steps() -> None:
    def part(n: int, text: str, section: str, score: float) -> Passage:
        chunk = Chunk(id=f"t{n}", doc_id="retention", index=n, text=text, source="/lib/retention.md",
                      title="Training and retaining district IT staff", source_type="md", section=section,
                      date="2026-11-28")
        return Passage(chunk, score, dense=score)

    ladder = ("Career ladders and retention\n\nOther retention practices within a CTO's control:\n"
              "1. Hold stay interviews with current staff each year to learn what would make them leave.\n"
              "2. Watch workload indicators such as tickets per technician and after-hours calls.")
    checklist = ("Checklist\n\n1. Every critical system has a named primary and backup person.\n"
                 "2. Each IT employee has a written annual training plan with time and funding.")
    draft = ExtractiveComposer(HashEmbedder()).compose(
        "What retention practices keep district IT staff from leaving?",
        [part(0, ladder, "Career ladders and retention", 0.62), part(1, checklist, "Checklist", 0.6)])
    text = render(draft, lambda c: c.text)
    lines = [line for line in text.splitlines() if line.strip()]
    lead_in = next(i for i, line in enumerate(lines) if line.endswith("Other retention practices within a CTO's control:"))
    assert lines[lead_in].startswith("Training and retaining district IT staff · Career ladders and retention:"), text
    assert lines[lead_in + 1].startswith("1. Hold stay interviews"), text  # no label between a lead-in and its steps
    assert "Training and retaining district IT staff · Checklist:" in lines, text


def test_the_lead_answers_the_subject_not_the_scene(monkeypatch: pytest.MonkeyPatch, real_embedder) -> None:  # type: ignore[no-untyped-def]
    # real sentences of the starter library: a backups brief naming Gmail and Google, and the FERPA brief
    backups = _passage(1, "Google Vault is a retention and eDiscovery tool for legal holds and searches, and Google "
                          "Vault is not designed to be a full restore tool for Drive, Gmail, and shared drives.", 0.6,
                       "Backups for school districts")
    ferpa = _passage(2, "FERPA generally requires written parental consent before a district discloses personally "
                        "identifiable information from education records, unless an exception applies.", 0.6,
                     "Student privacy laws and IT decisions")
    question = ("We use Gmail and Google Workspace for students. What does FERPA require of us before we share "
                "student data with Google?")
    draft = ExtractiveComposer(real_embedder).compose(question, [backups, ferpa])
    assert draft.lead[0].text.startswith("FERPA generally requires")
    # judged against the whole question (the scene too), the Google Vault sentence leads: the rule is what moves it
    monkeypatch.setattr("kb.answering.extractive.SUBJECT_SHARE", 0.0)
    assert ExtractiveComposer(real_embedder).compose(question, [backups, ferpa]).lead[0].text.startswith("Google Vault")
    # both sentences are still quoted: only the opening changes
    assert {c.text[:12] for c in draft.lead + draft.points} == {"Google Vault", "FERPA genera"}
