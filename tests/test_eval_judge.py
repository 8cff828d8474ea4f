"""The optional LLM judge of faithfulness, against a local server speaking the OpenAI wire protocol."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from eval.gold import GoldItem
from eval.judge import Judge, parse_verdict
from eval.run import run as run_command
from eval.run import score_item, summarise
from kb.core.answer import Answer, Citation, Claim
from kb.core.settings import Settings
from tests.test_llm_composer import FakeLLM, Script, prompt_of


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()


def judge_settings(url: str) -> Settings:
    return Settings(llm_backend="openai", llm_base_url=url, llm_model="judge", llm_timeout_s=5.0, embedding_model="hash")


def citation(n: int, snippet: str) -> Citation:
    return Citation(n=n, doc_id=f"d{n}", chunk_id=f"c{n}", title=f"Doc {n}", source=f"/lib/{n}.md", page=None,
                    section=None, date="2025-01-01", snippet=snippet, score=0.5)


ANSWER = Answer(
    question="How often are backups tested?", standalone_question="How often are backups tested?",
    text="Backups are tested quarterly [1]. MFA stops phishing [2]. Budgets pass in spring [1].",
    citations=[citation(1, "Backups are tested by restoring them every quarter."),
               citation(2, "Multi-factor authentication blocks most credential phishing.")],
    areas=["cybersecurity"], abstained=False,
    claims=[Claim("Backups are tested quarterly.", [1]), Claim("MFA stops phishing.", [2]),
            Claim("Budgets pass in spring.", [1])],
)


@pytest.mark.parametrize(("reply", "verdict"), [
    ("YES", True), ("yes.", True), ("No", False), ("**NO** - the passage is about backups", False),
    ("Maybe", None), ("", None), ("Yesterday", None),
])
def test_parse_verdict(reply: str, verdict: bool | None) -> None:
    assert parse_verdict(reply) is verdict


def test_each_sentence_is_judged_against_its_own_passage(llm: FakeLLM) -> None:
    llm.script(Script("YES"), Script("YES"), Script("NO"))
    verdicts = Judge(judge_settings(llm.url)).judge(ANSWER)
    assert (verdicts.supported, verdicts.unsupported, verdicts.unjudged) == (2, 1, 0)
    assert verdicts.faithfulness == pytest.approx(2 / 3)
    prompts = [prompt_of(body) for _, body in llm.requests]
    assert "Backups are tested by restoring them every quarter." in prompts[0]
    assert "Statement: MFA stops phishing." in prompts[1] and "Multi-factor" in prompts[1]


def test_unclear_and_failed_replies_are_unjudged_not_failures(llm: FakeLLM) -> None:
    llm.script(Script("I cannot tell"), Script(status=500), Script("YES"))
    verdicts = Judge(judge_settings(llm.url).with_overrides(llm_timeout_s=2.0)).judge(ANSWER)
    assert verdicts.supported == 1 and verdicts.unsupported == 0 and verdicts.unjudged == 2
    assert verdicts.faithfulness == 1.0


def test_no_llm_configured_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CTO_LLM_BACKEND"):
        Judge(Settings(embedding_model="hash"))
    result = CliRunner().invoke(run_command, ["--judge"])
    assert result.exit_code == 2  # refused before any knowledge base is built
    assert "set CTO_LLM_BACKEND" in result.output


def test_faithfulness_lands_in_the_row_and_the_summary(llm: FakeLLM) -> None:
    class OneAnswer:
        def ask(self, question: str, history: list[str] | None = None) -> Answer:
            return ANSWER

        class retriever:  # noqa: N801  (the attribute score_item reads)
            @staticmethod
            def retrieve(*args: object, **kwargs: object) -> list[object]:
                return []

    llm.script(Script("YES"), Script("NO"), Script("NO"))
    item = GoldItem(id="q1", question=ANSWER.question, area="cybersecurity", kind="factual",
                    refs=[], key_facts=["quarterly"])
    row = score_item(OneAnswer(), item, Judge(judge_settings(llm.url)))  # type: ignore[arg-type]
    assert row["faithfulness"] == pytest.approx(1 / 3) and row["unjudged"] == 0
    assert summarise([row])["faithfulness"] == pytest.approx(1 / 3)
    unjudged = {k: v for k, v in row.items() if k not in {"faithfulness", "unjudged"}}
    assert "faithfulness" not in summarise([unjudged])  # no judge, no column
