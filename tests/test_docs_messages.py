"""Every message in the golden files is documented: a troubleshooting entry for each line a user may search
for, and each gate's lines (pass ones too) in the "Messages" section of that gate's page.

The golden files (``tests/golden/messages/*.txt``, written by ``tests/test_golden_messages.py``) already have
numbers as ``N`` and paths as ``<root>``/``<tmp>``. A documented message is a backticked quote, in a
``### `` heading of docs/troubleshooting.md or in the ``## Messages`` section of a gate page, written with
placeholders: ``TEST``, ``PATH``, ``REF`` and the other capitalised words of ``_WORD`` stand for one word,
``MESSAGE``/``REASON`` and ``...`` for any text, ``N`` for a number (as the golden files write it). A quote
documents a line when it matches the whole line, after the status word (``FAIL``/``warn``/``pass``), the
``-> level`` suffix and at most two leading subject words (a node id, a path, ``project version``).

The error lines of the ``release-gate`` command (status, merge, baseline, integrity, history, init) are not
all in the golden files: they are read from the command's modules and each needs an entry too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "messages"
DOCS = ROOT / "docs"
SRC = ROOT / "src" / "pytest_release_gates"

#: Golden section -> the gate page documenting its lines.
GATE_PAGES = {
    "gate tests": "tests.md",
    "gate run": "run.md",
    "gate budget": "budget.md",
    "gate timeout": "timeout.md",
    "gate regression": "regression.md",
    "gate regression (unit)": "regression.md",
    "gate regression (A/B)": "compare.md",
    "gate coverage": "coverage.md",
    "gate new_error_type": "new-error-type.md",
    "gate integrity": "integrity.md",
    "gate flaky": "flaky.md",
}

_WORD = r"TEST|PATH|REF|ROOT|TYPE|NAME|KEY|KIND|FILE|DATE|RULE|PROJECT|VERSION|OWNER|OUT|URL|VERDICT|LEVEL"
_PLACEHOLDER = re.compile(rf"\b(?:{_WORD}|MESSAGE|REASON)\b|\.\.\.")
#: Lines the golden test writes about its own commands (``status deploy.json: exit 0``), not messages.
_HARNESS = re.compile(r"(?:status|merge) \S.*: exit \d+")


def _squash(text: str) -> str:
    """One space between words; a time below a second and a sparkline read the same in docs and golden files."""
    text = " ".join(text.replace("`", "").split())
    text = re.sub(r"\bN (?:<s/1000\^k>|s|ms|µs|ns)(?=\W|$)", "N s", text)
    return re.sub(r"[▁▂▃▅▇]+", "<sparkline>", text)


def _as_pattern(quote: str) -> re.Pattern[str]:
    out, last = [], 0
    for m in _PLACEHOLDER.finditer(quote):
        out.append(re.escape(quote[last:m.start()]))
        out.append(r"\S+?" if re.fullmatch(_WORD, m.group(0)) else ".*?")
        last = m.end()
    out.append(re.escape(quote[last:]))
    return re.compile("".join(out))


def _patterns(markdown: str) -> list[re.Pattern[str]]:
    return [_as_pattern(_squash(q)) for q in re.findall(r"`([^`]+)`", markdown)]


def golden_lines() -> list[tuple[str, str, str]]:
    """(file, section, line) for every message line of the golden files."""
    out = []
    for path in sorted(GOLDEN.glob("*.txt")):
        section = ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            if re.fullmatch(r"\[.*\]", raw):
                section = raw[1:-1]
            elif raw.strip() and not _HARNESS.fullmatch(raw):
                out.append((path.name, section, raw))
        assert section, f"{path}: no [section]"
    return out


def _message(line: str) -> tuple[str, str]:
    """(status, the line without status, ``-> level`` or list dash)."""
    text = _squash(line)
    text = re.sub(r"^- ", "", text)
    m = re.match(r"(FAIL|warn|pass) ", text)
    status = m.group(1) if m else ""
    text = text[m.end():] if m else text
    return status, re.sub(r" -> (?:hold|rollback)$", "", text)


def _documented(message: str, patterns: list[re.Pattern[str]]) -> bool:
    words = message.split(" ")
    candidates = [" ".join(words[i:]) for i in range(min(3, len(words)))]
    return any(p.fullmatch(c) for p in patterns for c in candidates)


def troubleshooting_patterns() -> list[re.Pattern[str]]:
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    return _patterns("\n".join(line for line in text.splitlines() if line.startswith("### ")))


def messages_section(page: str) -> str:
    text = (DOCS / "gates" / page).read_text(encoding="utf-8")
    m = re.search(r"^## Messages\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"docs/gates/{page} has no '## Messages' section"
    return m.group(1)


def test_golden_files_are_read() -> None:
    lines = golden_lines()
    assert len(lines) >= 200
    assert {s for _, s, _ in lines} >= set(GATE_PAGES), "a gate section was renamed: update GATE_PAGES"


def test_every_golden_message_has_an_entry() -> None:
    patterns = troubleshooting_patterns()
    missing = sorted({
        f"{name} [{section}] {message}"
        for name, section, line in golden_lines()
        for status, message in [_message(line)]
        if status != "pass" and not _documented(message, patterns)
    })
    assert not missing, "messages without a docs/troubleshooting.md entry:\n" + "\n".join(missing)


@pytest.mark.parametrize("page", sorted(set(GATE_PAGES.values())))
def test_every_gate_message_is_on_its_gate_page(page: str) -> None:
    patterns = _patterns(messages_section(page))
    missing = sorted({
        f"[{section}] {line}"
        for _, section, line in golden_lines()
        if GATE_PAGES.get(section) == page and not _documented(_message(line)[1], patterns)
    })
    assert not missing, f"lines missing from the Messages section of docs/gates/{page}:\n" + "\n".join(missing)


def test_pattern_matching_is_strict() -> None:
    """The matcher itself: a placeholder stands for one word, a quote must cover the whole message."""
    p = [_as_pattern("TEST failed: ...")]
    assert _documented("test_a.py::test_x failed: assert N == N", p)
    assert not _documented("a b c d failed: x", p)  # more than two subject words
    p = [_as_pattern("took N s, budget N s (Nx)")]
    assert _documented("t.py::t took N s, budget N s (Nx)", p)
    assert not _documented("t.py::t took N s, budget N s (Nx) and more", p)


def cli_error_templates() -> list[tuple[str, int, list[str]]]:
    """(file, line, literal fragments) of each one-line error the ``release-gate`` command can print.

    The modules of the command are those that build an argparse parser, plus the shard check of ``merge``;
    an error is the first argument of ``UsageError(...)``, ``StoreError(...)`` or ``_err(...)``, its
    f-string holes dropped."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "import argparse" not in text and "merge" not in path.name:
            continue
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name not in ("UsageError", "StoreError", "_err"):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.JoinedStr):
                text_parts = [v.value if isinstance(v, ast.Constant) else "\0" for v in arg.values]
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                text_parts = [arg.value]
            else:
                continue
            frags = [f.replace("`", "").strip(" :;,.()'\"") for f in "".join(map(str, text_parts)).split("\0")]
            frags = [f for f in frags if len(f) >= 12]
            if frags:
                out.append((path.relative_to(SRC).as_posix(), node.lineno, frags))
    return out


def test_every_cli_error_line_has_an_entry() -> None:
    """Each error of ``release-gate status/merge/baseline/integrity/history/init`` is findable on the page."""
    templates = cli_error_templates()
    assert len(templates) >= 25, "the release-gate command's modules moved: update cli_error_templates"
    text = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    headings = " ".join(" ".join(line.split()) for line in text.splitlines() if line.startswith("### "))
    headings = headings.replace("`", "")
    missing = [f"{name}:{line} {frags[0]!r}" for name, line, frags in templates
               if not any(" ".join(f.split()) in headings for f in frags)]
    assert not missing, "release-gate errors without a docs/troubleshooting.md entry:\n" + "\n".join(missing)
