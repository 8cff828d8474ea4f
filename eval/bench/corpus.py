"""Generated benchmark corpora: K-12 technology prose as PDF, HTML and Markdown files.

The text is built from a seeded random mix of domain vocabulary and sentence shapes,
so it has the word statistics of real guidance documents (many distinct terms,
repeated key phrases, headings, numbers) without copying any. The same generator
gives benchmark questions and the texts of synthetic chunks for large-scale runs.
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass
from pathlib import Path

from kb.core.errors import ConfigError

__all__ = ["GeneratedCorpus", "generate_corpus", "paragraph", "questions", "CHARS_PER_CHUNK"]

CHARS_PER_CHUNK = 650  # what one 900-character chunk holds on average, after overlap and packing

SUBJECTS = [
    "the district", "the technology department", "the school board", "each campus", "the superintendent's cabinet",
    "the network team", "instructional coaches", "the data governance committee", "the help desk", "building principals",
    "the chief technology officer", "the finance office", "the curriculum office", "the security lead", "the state agency",
]
TERMS = [
    "multi-factor authentication", "E-Rate Category Two funding", "student data privacy agreements", "Ed-Fi ODS",
    "OneRoster rostering", "single sign-on", "incident response plan", "tabletop exercise", "phishing simulation",
    "endpoint detection and response", "immutable backups", "3-2-1 backup rule", "device refresh cycle",
    "total cost of ownership", "Chromebook repair program", "Wi-Fi access point density", "fiber wide area network",
    "content filtering under CIPA", "FERPA directory information", "COPPA consent", "vendor contract addendum",
    "learning management system", "SIS-to-LMS integration", "data warehouse", "early warning dashboard",
    "professional learning community", "micro-credentials for teachers", "digital citizenship curriculum",
    "generative AI acceptable use policy", "AI tool vetting rubric", "home internet hotspots", "Affordable Connectivity Program",
    "BEAD broadband grants", "accessibility audit under Section 508", "WCAG 2.1 AA conformance", "captioning workflow",
    "cloud migration", "identity lifecycle management", "least-privilege access", "patch management cadence",
    "cyber insurance questionnaire", "NIST Cybersecurity Framework", "CIS Controls implementation group 1",
    "K-12 SIX threat briefing", "ransomware recovery", "interoperability roadmap", "data sharing agreement",
    "bandwidth per student", "classroom audio enhancement", "interactive display replacement", "ESSER sunset planning",
    "consortium purchasing", "request for proposals", "sustainability budget line", "help desk ticket backlog",
    "technology integration specialist", "instructional technology coach", "parent technology night",
    "assistive technology evaluation", "vulnerability scanning", "security awareness training", "asset inventory",
]
VERBS = [
    "prioritise", "budget for", "document", "pilot", "phase in", "audit", "renegotiate", "standardise", "measure",
    "retire", "consolidate", "communicate", "fund", "review annually", "train staff on", "test quarterly", "map",
]
OUTCOMES = [
    "reduces unplanned downtime", "shortens recovery time", "keeps the district eligible for reimbursement",
    "protects student records", "improves teacher adoption", "lowers the total cost over five years",
    "closes the homework gap", "satisfies the state reporting deadline", "gives principals usable data",
    "limits the blast radius of a compromised account", "meets the board's risk appetite", "avoids vendor lock-in",
]
CONNECTORS = ["In practice,", "As a rule,", "Before the next budget cycle,", "During the first year,", "For small districts,",
              "Where staff are scarce,", "According to the survey,", "In the pilot schools,", "Over a five-year horizon,"]
TEMPLATES = [
    "{conn} {subj} should {verb} {term} because it {outcome}.",
    "{subj_c} that {verb} {term} report that it {outcome}, especially when paired with {term2}.",
    "A common mistake is to {verb} {term} without {term2}; the result rarely {outcome}.",
    "{conn} about {pct} percent of districts {verb} {term} within {n} months.",
    "The checklist asks whether {subj} can show evidence of {term} and of {term2}.",
    "Costs for {term} ran between ${lo} and ${hi} per student in {year}, according to {subj}.",
    "{subj_c} reviewed {term} in {year} and decided to {verb} {term2} next.",
    "When {term} fails, {subj} falls back on {term2}, which {outcome}.",
]
QUESTION_SHAPES = [
    "How should a district {verb} {term}?", "What does {term} cost per student?", "Why pair {term} with {term2}?",
    "Who is responsible for {term}?", "What is a common mistake with {term}?", "How often should we {verb} {term}?",
]


def _sentence(rng: random.Random) -> str:
    subj = rng.choice(SUBJECTS)
    term, term2 = rng.sample(TERMS, 2)
    lo = rng.randint(5, 80)
    return rng.choice(TEMPLATES).format(
        conn=rng.choice(CONNECTORS), subj=subj, subj_c=subj[0].upper() + subj[1:], verb=rng.choice(VERBS), term=term,
        term2=term2, outcome=rng.choice(OUTCOMES), pct=rng.randint(10, 90), n=rng.randint(3, 36), lo=lo,
        hi=lo + rng.randint(5, 120), year=rng.randint(2016, 2025))


def paragraph(rng: random.Random, chars: int = 600) -> str:
    """One paragraph of about ``chars`` characters."""
    out: list[str] = []
    while sum(len(s) + 1 for s in out) < chars:
        out.append(_sentence(rng))
    return " ".join(out)


def questions(n: int, seed: int = 7) -> list[str]:
    """n benchmark questions in the corpus's vocabulary."""
    rng = random.Random(seed)
    return [rng.choice(QUESTION_SHAPES).format(verb=rng.choice(VERBS), term=a, term2=b)
            for a, b in (rng.sample(TERMS, 2) for _ in range(n))]


@dataclass
class GeneratedCorpus:
    folder: Path
    files: list[Path]
    chars: int


def _sections(rng: random.Random, chars: int) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    total = 0
    while total < chars:
        heading = f"{rng.choice(VERBS).capitalize()} {rng.choice(TERMS)}"
        paras = [paragraph(rng, rng.randint(350, 900)) for _ in range(rng.randint(2, 5))]
        total += sum(len(p) for p in paras)
        sections.append((heading, paras))
    return sections


def _write_markdown(path: Path, title: str, sections: list[tuple[str, list[str]]], year: int) -> None:
    body = "".join(f"\n## {h}\n\n" + "\n\n".join(paras) + "\n" for h, paras in sections)
    path.write_text(f"---\ntitle: {json.dumps(title)}\ndate: {year}-06-01\n---\n\n# {title}\n{body}", encoding="utf-8")


def _write_html(path: Path, title: str, sections: list[tuple[str, list[str]]], year: int) -> None:
    body = "".join(f"<h2>{html.escape(h)}</h2>" + "".join(f"<p>{html.escape(p)}</p>" for p in paras) for h, paras in sections)
    path.write_text(f"<!doctype html><html><head><title>{html.escape(title)}</title>"
                    f'<meta name="date" content="{year}-03-15"></head><body><nav>Home | About | Contact</nav>'
                    f"<main><h1>{html.escape(title)}</h1>{body}</main><footer>District technology office</footer></body></html>",
                    encoding="utf-8")


def _write_pdf(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> None:
    try:
        from reportlab.lib.pagesizes import letter
        from reportlab.pdfgen import canvas
    except ImportError as exc:
        raise ConfigError("the benchmark writes PDFs with reportlab, which comes with the eval extra: run `make bench` "
                          "(it installs that extra) or `make setup-eval`") from exc
    import textwrap

    c = canvas.Canvas(str(path), pagesize=letter)
    c.setTitle(title)
    y = 720
    for heading, paras in sections:
        lines = [("Helvetica-Bold", heading)] + [("Helvetica", line) for p in paras for line in textwrap.wrap(p, 95) + [""]]
        for font, line in lines:
            if y < 60:
                c.showPage()
                y = 720
            c.setFont(font, 10)
            c.drawString(60, y, line)
            y -= 13
    c.showPage()
    c.save()


def generate_corpus(folder: Path, target_chunks: int, *, seed: int = 11, docs_per_kind: int | None = None) -> GeneratedCorpus:
    """Write PDF, HTML and Markdown files that chunk into about ``target_chunks`` chunks.

    Args:
        folder: where the files go (created; existing generated files are replaced).
        target_chunks: how many 900-character chunks the files should yield in total.
        seed: random seed; the same seed gives the same bytes.
        docs_per_kind: files per format (default: about 30 chunks per file).
    """
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_kind = docs_per_kind or max(1, round(target_chunks / 30 / 3))
    chars_per_doc = max(1500, target_chunks * CHARS_PER_CHUNK // (per_kind * 3))
    files: list[Path] = []
    total = 0
    for n in range(per_kind * 3):
        kind = ("pdf", "html", "md")[n % 3]
        title = f"{rng.choice(TERMS).title()}: {rng.choice(VERBS)} guide {n + 1}"
        sections = _sections(rng, chars_per_doc)
        total += sum(len(p) for _, paras in sections for p in paras)
        path = folder / f"doc-{n + 1:04d}.{kind}"
        if kind == "pdf":
            _write_pdf(path, title, sections)
        elif kind == "html":
            _write_html(path, title, sections, rng.randint(2018, 2025))
        else:
            _write_markdown(path, title, sections, rng.randint(2018, 2025))
        files.append(path)
    return GeneratedCorpus(folder, files, total)
