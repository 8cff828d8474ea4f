"""Every command shown in README.md and docs/*.md must still exist.

The commands are taken from the documents themselves: each line of a ```bash block and each
inline `kb ...`, `ingest ...`, `python -m ...` or `make ...` span. Each one is checked the cheap
way: the program's `--help` for that command path (click's CliRunner for kb, ingest and
`python -m eval`), every `--option` shown against the command's options, `make -n TARGET` for
make targets, and a short list of system programs (systemctl, nginx, ...) that a guide may show
but this project does not provide. A command that is not one of those fails, so a renamed
command, a dropped option or a typo in a guide fails here instead of in front of a reader.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kb.core.settings import REPO_ROOT, Settings

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"bash", "sh", "shell"}
# Programs a guide may show that this project does not ship: system administration only.
SYSTEM_PROGRAMS = {
    "apt-get", "cat", "cd", "chown", "cp", "crontab", "date", "echo", "export", "git", "iconv", "install",
    "journalctl", "ln", "ls", "mkdir", "mv", "nginx", "ocrmypdf", "pip", "printf", "rm", "rsync", "sha256sum",
    "sqlite3", "systemctl", "systemd-analyze", "tar", "tee", "useradd",
}
# Environment variables the docs may name that are not settings of the app.
NON_SETTING_VARS = {"CTO_TEST_CHROMA_PORT", "CTO_TORCH_INDEX_URL", "CTO_REQUIRE_PYTHONS",  # test port; setup.sh, nomodel.sh
                    "CTO_CHECK_RETRAIN"}  # runs the slow retrain check in the tests
CONTROL = {"|", "||", "&&", ";", "&"}
REDIRECT = {">", ">>", "<", "<<", "2>", "&>"}
# an inline span is a command when it (or a part after a pipe) starts with one of our programs
INLINE_COMMAND = re.compile(r"(?:^|\|\s*)(?:[A-Z_][A-Z0-9_]*=\S*\s+)*(?:\S*\.venv/bin/)?(?:kb|ingest|python3?(?:\.11)?|make)\s+\S")


@dataclass(frozen=True)
class Shown:
    """One command as a document shows it."""

    where: str  # file:line
    text: str


# ----- finding the commands ---------------------------------------------------------------------
def _fences(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """(first line number, language, lines) of each fenced code block."""
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("```"):
            if lang is None:
                lang, start, body = stripped[3:].strip().lower() or "text", number + 1, []
            else:
                blocks.append((start, lang, body))
                lang = None
        elif lang is not None:
            body.append(line)
    return blocks


def _shell_commands(start: int, body: list[str]) -> list[tuple[int, str]]:
    """Logical command lines of a shell block: continuations joined, heredoc bodies skipped."""
    out: list[tuple[int, str]] = []
    pending, first, heredoc_end = "", 0, None
    for number, line in enumerate(body, start=start):
        if heredoc_end is not None:
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        if not pending:
            first = number
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        marker = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", pending)
        if marker:
            heredoc_end = marker.group(1)
        if pending.strip() and not pending.strip().startswith("#"):
            out.append((first, pending.strip()))
        pending = ""
    return out


def _inline_commands(lines: list[str], skip: set[int]) -> list[tuple[int, str]]:
    out = []
    for number, line in enumerate(lines, start=1):
        if number in skip:
            continue
        for span in re.findall(r"`([^`\n]+)`", line):
            if INLINE_COMMAND.search(span.strip()):
                out.append((number, span.strip()))
    return out


def shown_commands(paths: list[Path] = DOCS, unique: bool = True) -> list[Shown]:
    """Every command the documents show; with ``unique``, once each (the first place it appears)."""
    seen: dict[str, Shown] = {}
    every: list[Shown] = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        blocks = _fences(lines)
        in_blocks = {n for start, _, body in blocks for n in range(start - 1, start + len(body) + 1)}
        found = [c for start, lang, body in blocks if lang in SHELL_LANGS for c in _shell_commands(start, body)]
        found += _inline_commands(lines, in_blocks)
        rel = path.relative_to(REPO_ROOT).as_posix()
        for number, text in sorted(found):
            every.append(Shown(f"{rel}:{number}", text))
            seen.setdefault(text, every[-1])
    return list(seen.values()) if unique else every


# ----- checking one command ------------------------------------------------------------------------
def _segments(text: str) -> list[list[str]]:
    """The simple commands of a line: split at | && ; and with redirections removed."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    segments: list[list[str]] = [[]]
    skip_next = False
    for i, token in enumerate(tokens):
        if skip_next:
            skip_next = False
        elif token in CONTROL:
            segments.append([])
        elif token in REDIRECT:
            skip_next = True
            if segments[-1] and segments[-1][-1].isdigit() and i and tokens[i - 1] == segments[-1][-1]:
                segments[-1].pop()  # the "2" of "2>"
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def _strip_prefixes(tokens: list[str]) -> list[str]:
    """Drop leading VAR=value assignments and sudo (with its options)."""
    tokens = list(tokens)
    while tokens:
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", tokens[0]):
            tokens.pop(0)
        elif tokens[0] == "sudo":
            tokens.pop(0)
            while tokens and tokens[0].startswith("-"):
                option = tokens.pop(0)
                if option in {"-u", "-g"} and tokens:
                    tokens.pop(0)
        else:
            break
    return tokens


def _program(token: str) -> str:
    """`.venv/bin/kb` and `/opt/cto-assistant/.venv/bin/kb` are `kb`."""
    return token.rsplit("/.venv/bin/", 1)[-1].removeprefix(".venv/bin/")


@functools.cache
def _click_roots() -> dict[str, click.Command]:
    from eval.cli import main as eval_main
    from ingest.cli import main as ingest_main
    from kb.cli import main as kb_main

    return {"kb": kb_main, "ingest": ingest_main, "eval": eval_main}


def _options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
    return names


def check_click(root_name: str, args: list[str]) -> str | None:
    """Walk the command path in ``args``, check each shown option, and run that command's --help."""
    root = _click_roots()[root_name]
    command, path = root, []
    rest = list(args)
    while isinstance(command, click.Group) and rest:
        token = rest[0]
        if token.startswith("-"):
            break
        sub = command.get_command(click.Context(command), token)
        if sub is None:
            return f"{root_name} {' '.join(path)}: no command {token!r}"
        command, path = sub, path + [rest.pop(0)]
    known = _options(command)
    for token in rest:
        if token.startswith("-") and token != "-" and token.split("=", 1)[0] not in known:
            return f"{root_name} {' '.join(path)}: no option {token.split('=', 1)[0]!r}"
    result = CliRunner().invoke(root, [*path, "--help"], prog_name=root_name)
    if result.exit_code != 0:
        return f"{root_name} {' '.join(path)} --help exited {result.exit_code}: {result.output[-300:]}"
    return None


@functools.cache
def _make_dry_run(args: tuple[str, ...]) -> str | None:
    done = subprocess.run(["make", "-n", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    return None if done.returncode == 0 else f"make -n {' '.join(args)} failed: {done.stderr.strip()[-300:]}"


@functools.cache
def _chroma_help(sub: str) -> str:
    # the chroma beside the running Python: .venv's, or a .venv-nomodel-3.X's in `make test-nomodel`
    done = subprocess.run([str(Path(sys.executable).parent / "chroma"), sub, "--help"], capture_output=True,
                          text=True, timeout=60)
    return done.stdout if done.returncode == 0 else ""


def _check_python(args: list[str]) -> str | None:
    if len(args) < 2 or args[0] != "-m":
        return f"python {' '.join(args)}: only `python -m MODULE` is checked; show the command that way"
    module, rest = args[1], args[2:]
    if module in _click_roots():
        return check_click(module, rest)
    if importlib.util.find_spec(module) is None:
        return f"python -m {module}: no such module"
    return None


def _check_chroma(args: list[str]) -> str | None:
    if not args:
        return "chroma: name a subcommand"
    text = _chroma_help(args[0])
    if not text:
        return f"chroma {args[0]} --help failed"
    missing = [t for t in args[1:] if t.startswith("--") and t.split("=", 1)[0] not in text]
    return f"chroma {args[0]}: no option(s) {missing}" if missing else None


def check_segment(tokens: list[str]) -> str | None:
    """None when the simple command exists as shown, else why not."""
    tokens = _strip_prefixes(tokens)
    if not tokens:
        return None  # only assignments
    program, args = _program(tokens[0]), tokens[1:]
    if program in {"kb", "ingest"}:
        return check_click(program, args)
    if re.fullmatch(r"python(3(\.11)?)?", program):
        return _check_python(args)
    if program == "make":
        targets = tuple(a for a in args if not a.startswith("-"))
        return _make_dry_run(targets) if targets else "make: name a target"
    if program == "chroma":
        return _check_chroma(args)
    if "/" in program and not program.startswith("/"):
        return None if (REPO_ROOT / program).is_file() else f"{program}: no such file in the repository"
    if program in SYSTEM_PROGRAMS:
        return None
    return f"{program}: not a command of this project or a known system program"


def check_command(text: str) -> list[str]:
    return [problem for segment in _segments(text) if (problem := check_segment(segment))]


# ----- the tests -------------------------------------------------------------------------------------
COMMANDS = shown_commands()


@pytest.mark.parametrize("shown", COMMANDS, ids=[c.where for c in COMMANDS])
def test_shown_command_exists(shown: Shown) -> None:
    problems = check_command(shown.text)
    assert not problems, f"{shown.where}: `{shown.text}`: " + "; ".join(problems)


def test_the_guides_show_their_commands() -> None:
    """The extractor finds the commands each guide is about (so the test above has something to check)."""
    by_file: dict[str, set[str]] = {}
    for shown in shown_commands(unique=False):
        by_file.setdefault(shown.where.split(":")[0], set()).add(re.sub(r"\s+#.*$", "", shown.text))
    expected = {
        "README.md": "make run",
        "docs/staff-guide.md": ".venv/bin/ingest ./district-docs --dry-run",
        "docs/admin-guide.md": ".venv/bin/kb audit replay 7f587810621a",
        "docs/evaluation-guide.md": ".venv/bin/python -m eval run --gate",
        "docs/user-guide.md": '.venv/bin/kb ask "How should we prepare for ransomware?"',
    }
    for name, command in expected.items():
        assert command in by_file.get(name, set()), f"{name} no longer shows `{command}`"


@pytest.mark.parametrize("text, complaint", [
    ("kb frobnicate --yes", "no command 'frobnicate'"),
    ("kb audit replays abc", "no command 'replays'"),
    (".venv/bin/kb ask --no-such-option 'x'", "no option '--no-such-option'"),
    ("ingest ./docs --recursive", "no option '--recursive'"),
    ("python -m eval calibrate-all", "no command 'calibrate-all'"),
    ("python -m no_such_module_here", "no such module"),
    ("sudo -u cto make no-such-target", "make -n no-such-target failed"),
    ("printf '%s\\n' x | kb hash-pasword --stdin", "no command 'hash-pasword'"),
    ("frobctl start", "not a command of this project"),
    ("scripts/no-such-script.sh", "no such file"),
])
def test_checker_rejects_commands_that_do_not_exist(text: str, complaint: str) -> None:
    problems = check_command(text)
    assert problems and complaint in problems[0], problems


def test_checker_reads_shell_syntax() -> None:
    ok = [
        "CTO_PRIVACY_MODE=redact .venv/bin/ingest ./board-packets  # one run",
        "sudo -u cto /opt/cto-assistant/.venv/bin/kb export /tmp/kb.jsonl.gz --force",
        "kb ask --batch questions.txt > answers.jsonl",
        "printf '%s\\n' \"$PASSWORD\" | kb hash-password --stdin",
        "cd /opt/cto-assistant && make -n setup",
    ]
    for text in ok:
        assert check_command(text) == [], text
    block = ["```bash", "kb docs \\", "  --health", "cat <<'EOF'", "kb nonsense", "EOF", "```"]
    start, lang, body = _fences(block)[0]
    assert lang == "bash"
    assert [c for _, c in _shell_commands(start, body)] == ["kb docs    --health", "cat <<'EOF'"]


def test_environment_variables_named_in_the_docs_are_settings() -> None:
    settings = {f"CTO_{name.upper()}" for name in Settings.model_fields}
    for path in DOCS:
        named = set(re.findall(r"\bCTO_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
        unknown = named - settings - NON_SETTING_VARS
        assert not unknown, f"{path.name} names variables that are not settings: {sorted(unknown)}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    in_code = {n for start, _, body in _fences(lines) for n in range(start - 1, start + len(body) + 1)}
    return {_slug(line.lstrip("#")) for n, line in enumerate(lines, start=1)
            if n not in in_code and re.match(r"^#{1,6} ", line)}


def test_links_between_the_docs_resolve() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # web and mail links
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            assert linked.exists(), f"{path.name}: link to missing {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{path.name}: no heading #{anchor} in {linked.name}"
