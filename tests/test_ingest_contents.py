"""A PDF's table of contents is not indexed: it names every section in the words questions use and answers none."""

from __future__ import annotations

from pathlib import Path

from ingest.clean import is_contents_page
from ingest.loaders.pdf import load_pdf
from tests.helpers import make_pdf

CONTENTS = [f"{n}.{k} {name} {'.' * (60 - len(name))} {3 * n + k}"
            for n, k, name in [(1, 1, "Purpose of the Plan"), (1, 2, "Who Uses the Plan"), (2, 1, "Guest Networks"),
                               (2, 2, "Staff Networks"), (3, 1, "Backups and Restores"), (3, 2, "Restore Tests")]]
BODY = ("Guest devices reach the internet only through the content filter, and the guest network never reaches "
        "the staff or server zones. Staff laptops join the staff network after the device check.")


def test_a_page_of_dot_leader_lines_is_a_contents_page() -> None:
    assert is_contents_page("Table of Contents\n" + "\n".join(CONTENTS))
    assert not is_contents_page(BODY)
    # a questionnaire with a few dotted answer lines among its questions is a page of text
    form = "\n".join([BODY] * 8 + ["1. Do you administer more than one network? ............", "2. Yes or no ......."])
    assert not is_contents_page(form)


def test_the_pdf_loader_leaves_the_contents_page_out_and_says_so(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "plan.pdf", ["Network Plan\n\nTable of Contents\n\n" + "\n\n".join(CONTENTS),
                                           BODY, BODY.replace("Guest", "Visitor")], title="Network Plan")
    document = load_pdf(pdf, max_pages=10)
    assert [s.page for s in document.sections] == [2, 3]
    assert document.health["contents_pages"] == [1]
    assert document.health["empty_pages"] == []  # a contents page is not an empty page
    assert not any("...." in s.text for s in document.sections)
