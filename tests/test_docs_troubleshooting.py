"""docs/troubleshooting.md: each entry quotes a message the code can still print, so searching finds it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Placeholders and variable parts of a quoted message: what lies between them is literal text of the code.
_VARIABLE = re.compile(
    r"\b(?:N|Nx|PATH|TEST|REF|ROOT|TYPE|KIND|DATE|FILE|NAME|KEY|A|B|M)\b|\.\.\.|'[^']*'|\([^)]*\)|: "
)


#: Messages pytest prints itself, which the verdict repeats.
FROM_PYTEST = ("[XPASS(strict)]",)


def _haystack() -> str:
    """The plugin's code and its golden messages (lines as printed), without string-literal seams or backticks."""
    files = [*ROOT.glob("src/pytest_release_gates/**/*.py"), *ROOT.glob("tests/golden/messages/*.txt")]
    text = " ".join(" ".join(p.read_text(encoding="utf-8").split()) for p in files)
    return re.sub(r'"\s*f?"', "", text).replace("`", "")


def _as_pattern(quoted: str) -> re.Pattern[str]:
    """The quoted message as a regex: placeholders match any short text."""
    parts = re.split(r"(\b(?:N|PATH|TEST|REF|ROOT|TYPE|NAME)\b|\.\.\.)", quoted)
    return re.compile("".join(".{0,200}?" if i % 2 else re.escape(p) for i, p in enumerate(parts)))


def test_every_entry_quotes_a_message_the_code_prints() -> None:
    hay = _haystack()
    headings = [line[4:] for line in (ROOT / "docs" / "troubleshooting.md").read_text().splitlines()
                if line.startswith("### ")]
    assert len(headings) >= 60
    unknown = []
    for heading in headings:
        quoted = re.findall(r"`([^`]+)`", heading)
        if any(m in heading for m in FROM_PYTEST):
            continue
        fragments = [f.strip(" :;,.-/") for q in quoted for f in _VARIABLE.split(q)]
        fragments = [f for f in fragments if len(f) >= 8]
        if not any(f in hay for f in fragments) and not any(_as_pattern(q).search(hay) for q in quoted):
            unknown.append(heading)
    assert not unknown, f"entries whose message the code no longer prints: {unknown}"
