"""Document text shown in the app cannot become markup; uploads cannot leave their folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.core.errors import IngestError
from ui.library_admin import safe_file_name, save_upload
from ui.safe_text import answer_md, escape_md, export_md, highlight_passage

HOSTILE = "See ![x](http://evil.example/pixel.png) or [click](javascript:alert(1)) <script>alert(1)</script> $x^2$ :red[big] # Heading"


def _unescaped(markdown: str, chars: str) -> list[str]:
    """Characters of ``chars`` that appear without a backslash before them."""
    found = []
    for i, ch in enumerate(markdown):
        if ch in chars and (i == 0 or markdown[i - 1] != "\\"):
            found.append(ch)
    return found


def test_escape_md_neutralises_links_images_html_math_and_directives() -> None:
    escaped = escape_md(HOSTILE)
    assert _unescaped(escaped, "[]()<>!$:#") == []
    assert escaped.replace("\\", "") == HOSTILE  # nothing is lost, only escaped


def test_answer_md_keeps_our_layout_and_bold_but_not_document_markup() -> None:
    text = f"Lead sentence {HOSTILE} [1]\n\n- A point [2]\n* Another point [3]\n**The library does not cover this.**"
    rendered = answer_md(text)
    lines = rendered.split("\n")
    assert lines[2].startswith("- A point") and lines[3].startswith("- Another point")
    assert "**\\[1\\]**" in lines[0] and "**\\[2\\]**" in lines[2]
    assert lines[4] == "**The library does not cover this\\.**"
    assert "](" not in rendered.replace("\\]\\(", "") and "<script>" not in rendered


def test_answer_md_puts_each_numbered_step_on_its_own_line_with_the_source_number() -> None:
    text = "Ransomware · Before an attack:\n1. Keep backups offline. [1]\n7. Write an annex. [1]\n\nOther:\n- A point [2]"
    lines = answer_md(text).split("\n")
    # a hard break ends the line before each step (a soft one would run the steps into one paragraph), and the
    # escaped "7\." is shown as written: Markdown would renumber an ordered list 1, 2
    assert lines[0].endswith("  ") and lines[1] == "1\\. Keep backups offline\\. **\\[1\\]**  "
    assert lines[2].startswith("7\\. Write an annex") and not lines[2].endswith(" ")
    assert lines[3] == "" and lines[5] == "- A point **\\[2\\]**"


def test_export_md_keeps_each_line_and_the_source_numbers_in_a_markdown_viewer() -> None:
    text = ("Ransomware · Before an attack:\n1. Keep backups offline. [1]\n7) Write an annex. [1]\n\n- A point [2]\n\n"
            "Sources:\n[1] Ransomware preparedness - file:///library/r.md\n[2] Federal recommendations - https://x.test/a")
    lines = export_md(text).split("\n")
    # a hard break ends every line another line follows; the last line of a paragraph is left alone
    assert lines[0] == "Ransomware · Before an attack:  " and lines[2] == "7\\) Write an annex. [1]" and lines[3] == ""
    # "1\." and "7\)" are shown as written: a viewer would renumber an ordered list 1, 2
    assert lines[1] == "1\\. Keep backups offline. [1]  "
    assert lines[4] == "- A point [2]" and lines[6:] == ["Sources:  ", "[1] Ransomware preparedness - file:///library/r.md  ",
                                                        "[2] Federal recommendations - https://x.test/a"]
    assert export_md("").split("\n") == [""]


def test_highlight_marks_the_supporting_sentence_only() -> None:
    passage = ("Backups matter. Keep one copy offline so that attackers cannot encrypt it.\n"
               "- Test restores twice a year.\n\nA later paragraph.")
    rendered = highlight_passage(passage, ["Keep one copy offline so that attackers cannot encrypt it."])
    assert rendered.count(":orange-background[") == 1
    assert ":orange-background[**Keep one copy offline so that attackers cannot encrypt it\\.**]" in rendered
    assert "  \n\\- Test restores" in rendered  # list items keep their own line
    assert rendered.endswith("\n\nA later paragraph\\.")


def test_highlight_finds_a_paraphrase_and_escapes_hostile_passages() -> None:
    rendered = highlight_passage(HOSTILE + ". Districts should test restores of backups twice each year.",
                                 ["Test restores of backups twice each year, districts should."])
    assert rendered.count(":orange-background[") == 1
    assert _unescaped(rendered.split(":orange-background[")[0], "[]()<>!$") == []


@pytest.mark.parametrize(("name", "expected"), [
    ("Policy 2024.pdf", "Policy-2024.pdf"),
    ("../../etc/passwd.md", "passwd.md"),
    ("C:\\Users\\me\\Plan (final).DOCX", "Plan-final.docx"),
    (".hidden.md", "hidden.md"),
    ("....md", "upload.md"),
    ("notes.TXT", "notes.txt"),
])
def test_safe_file_names(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


@pytest.mark.parametrize("name", ["virus.exe", "archive.tar.gz", "noextension"])
def test_unsupported_uploads_are_refused(name: str) -> None:
    with pytest.raises(IngestError, match="not a supported file type"):
        safe_file_name(name)


def test_save_upload_writes_inside_the_folder_and_replaces_same_name(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    first = save_upload(folder, "../plan.md", b"one", max_mb=1)
    second = save_upload(folder, "plan.md", b"two", max_mb=1)
    assert first == second == (folder / "plan.md").resolve() and second.read_bytes() == b"two"
    assert sorted(p.name for p in folder.iterdir()) == ["plan.md"]  # no temporary files left
    with pytest.raises(IngestError, match="CTO_MAX_FILE_MB"):
        save_upload(folder, "big.md", b"x" * 2_000_001, max_mb=2)
