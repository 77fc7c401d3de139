"""Mask secrets in everything the plugin shows or writes: one function at one boundary.

The ``secrets`` content rule (``integrity/text_rules.py``) finds secrets in files with the
detectors defined here; the same detectors mask any text that leaves the plugin, so a
failing ``assert token == "expected"`` cannot put a token into the verdict file, the
reports or the history. :func:`document` is applied once to the verdict document when
it is built (every adapter, the history and any store read that document), to each
history entry, and :func:`text` to each terminal line. Identifiers (node ids, error
types, baseline keys) stay unmasked in memory, where they are matched; they are
masked only where shown, the same way everywhere, so a masked id still matches
itself from one run's history to the next.

What is masked (whether or not ``secrets`` is in ``rules``):

- private-key blocks, ``-----BEGIN ... PRIVATE KEY-----`` through the matching end
  line, or through the base64 body that follows when the text was cut;
- access keys recognised by their prefix (AWS ``AKIA...``, GitHub ``ghp_...``, ...);
- values of 16+ characters and Shannon entropy >= 3.5 bits/char assigned to a
  secret-like name: ``token='...'``, ``password = "..."``, ``{'api_key': '...'}``
  (a repr), ``API_KEY=...`` (unquoted: also needs a digit and a letter and must not
  look like a path), and in a document a string under a secret-like key.

Ordinary text (node ids, file paths, hashes, commit ids) has no such shape and is left
byte for byte. The masked form never matches a detector again: masking is idempotent.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Final, TypeVar, cast

_T = TypeVar("_T")

# ------------------------------------------------------------------ detectors (shared with the secrets rule)

PRIVATE_KEY: Final = re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----")
#: A whole block: through its END line, else through the base64 body that follows (a cut text,
#: a repr with ``\n`` escapes).
_PRIVATE_BLOCK: Final = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----"
    r"(?:.*?-----END \1-----|(?:[A-Za-z0-9+/=:,\-\r\n]|\\[rn]| (?=[A-Za-z0-9+/=]{16}))*)",
    re.DOTALL,
)
CLOUD_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}|AIza[0-9A-Za-z_-]{35}"
    r"|xox[abposr]-[0-9A-Za-z-]{10,}|sk_live_[0-9A-Za-z]{24,}|glpat-[0-9A-Za-z_-]{20,})(?![A-Za-z0-9])"
)
CLOUD_HINTS: Final = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA", "ghp_", "gho_", "ghu_",
                      "ghs_", "ghr_", "github_pat_", "AIza", "xox", "sk_live_", "glpat-")
SECRET_WORD: Final = (r"(?:secret|token|passw(?:or)?d|pwd|api[_-]?key|access[_-]?key|private[_-]?key"
                      r"|auth[_-]?key|credentials?)")
#: Lowercase stand-ins of :data:`SECRET_WORD` for a cheap ``in`` test before any regex.
SECRET_WORDS: Final = ("secret", "token", "passw", "pwd", "apikey", "api_key", "api-key", "accesskey",
                       "access_key", "access-key", "privatekey", "private_key", "private-key", "authkey",
                       "auth_key", "auth-key", "credential")
#: ``name = "value"``, ``name: 'value'``, ``"name": "value"``: group 1 the name, 2 the quote, 3 the value.
SECRET_ASSIGN: Final = re.compile(
    r"(?i)([A-Za-z0-9_.-]*" + SECRET_WORD + r"[A-Za-z0-9_.-]*)[\"']?\s*(?::=|=>|=|:)\s*"
    r"[rbuRBU]?([\"'])([^\"'\s]{16,512})\2"
)
_SECRET_NAME: Final = re.compile(r"(?i)" + SECRET_WORD)
#: What follows a secret-like word for an assignment, matched at the word's end: the rest of the name,
#: then a quoted value (group 2; the rule's shape) or an unquoted one (group 3: ``NAME=value``, a query
#: string). Anchored at each word, not searched with the name's leading ``[...]*``: that search
#: backtracks over every word of a long message.
_ASSIGNED: Final = re.compile(
    r"[A-Za-z0-9_.-]*[\"']?\s*(?::=|=>|=|:)\s*"
    r"(?:[rbuRBU]?([\"'])([^\"'\s]{16,512})\1|([A-Za-z0-9+/=_~.-]{16,512})(?![A-Za-z0-9+/=_~.-])"
    r"|[rbuRBU]?[\"']([^\"'\s]{8,511})\Z)"  # group 4: a quoted value the text was cut in (no closing quote)
)
#: An access key's prefix and part of it where a text was cut short (someone else's ``[:300]``).
_CUT_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{4,15}|gh[pousr]_[A-Za-z0-9]{4,35}"
    r"|github_pat_[A-Za-z0-9_]{4,21}|AIza[0-9A-Za-z_-]{4,34}|sk_live_[0-9A-Za-z]{4,23}|glpat-[0-9A-Za-z_-]{4,19})"
    r"(?:\.\.\.|…)?\Z"
)
#: An access key pytest's ``saferepr`` cut in the middle (``'ghp_A1b2C3d4...2M3n4O5p6Q7r8'``): both
#: halves go, since together they are most of the key.
_MIDDLE_CUT_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9])(?:(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[0-9A-Z]{0,15}|gh[pousr]_[A-Za-z0-9]{0,35}"
    r"|github_pat_[A-Za-z0-9_]{0,21}|AIza[0-9A-Za-z_-]{0,34}|sk_live_[0-9A-Za-z]{0,23}|glpat-[0-9A-Za-z_-]{0,19}"
    r"|xox[abposr]-[0-9A-Za-z-]{0,})(?:\.\.\.|…)[A-Za-z0-9_-]*"
)
WORDY: Final = re.compile(r"^[a-z]+(?:[-_. ][a-z]+)*$|^[A-Z]+(?:[-_. ][A-Z]+)*$")
ENTROPY_MIN: Final = 3.5
#: Lowercase substrings one of which every detector's match contains: ``in`` tests on the lowered
#: string are ~5x faster than one case-insensitive regex over the same words.
_HINTS: Final = ("private key", *sorted({h.lower() for h in CLOUD_HINTS}), "secret", "token", "passw", "pwd", "key",
                 "credential")
#: Unquoted values that read as a path (``/etc/...``, ``./x``, ``~/x``, ``name.txt``) are left alone.
_PATHLIKE: Final = re.compile(r"^[./~]|\.[a-z]{1,5}$")


def entropy(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def mask(secret: str) -> str:
    """The shown form of a secret: two characters and its length (never matches a detector again)."""
    return f"{secret[:2]}{'*' * 6}({len(secret)} chars)"


def mask_private_key(kind: str) -> str:
    """The shown form of a private-key block (``kind``: ``RSA PRIVATE KEY``)."""
    return f"[{kind} masked]"


def secret_value(value: str) -> bool:
    """Would the secrets rule flag ``value`` assigned to a secret-like name? (16+ characters,
    high entropy, not a plain word, not a template placeholder, not an access key found on its own)."""
    return (16 <= len(value) <= 512 and entropy(value) >= ENTROPY_MIN and not WORDY.match(value)
            and "${" not in value and "{{" not in value)


def _bare_value(value: str) -> bool:
    return (secret_value(value) and not _PATHLIKE.search(value)
            and any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


# ------------------------------------------------------------------ masking


def _mask_assigned(s: str) -> str:
    """Mask the values assigned to secret-like names (what :data:`SECRET_ASSIGN` finds, and unquoted)."""
    parts: list[str] = []
    pos = 0
    for word in _SECRET_NAME.finditer(s):
        if word.start() < pos:
            continue
        m = _ASSIGNED.match(s, word.end())
        if m is None:
            continue
        group = next(i for i in (2, 3, 4) if m.group(i) is not None)
        value = m.group(group)
        ok = secret_value(value) if group == 2 else _bare_value(value) if group == 3 else not WORDY.match(value)
        if not ok or CLOUD_KEY.fullmatch(value):  # an access key is masked on its own
            continue
        parts += (s[pos:m.start(group)], mask(value))
        pos = m.end(group)
    return "".join((*parts, s[pos:])) if parts else s


def text(s: str) -> str:
    """``s`` with every secret masked; ``s`` itself when it holds none (the common case: one regex scan)."""
    low = s.lower()
    for h in _HINTS:  # a plain loop: a generator in any() costs more than the tests themselves
        if h in low:
            break
    else:
        return s
    if "PRIVATE KEY" in s:
        s = _PRIVATE_BLOCK.sub(lambda m: mask_private_key(m.group(1)), s)
    if any(h in s for h in CLOUD_HINTS):
        s = CLOUD_KEY.sub(lambda m: mask(m.group(0)), s)
        s = _CUT_KEY.sub(lambda m: mask(m.group(0)), s)
        if "..." in s or "…" in s:
            s = _MIDDLE_CUT_KEY.sub(lambda m: mask(m.group(0)), s)
    return _mask_assigned(s)


def document(value: _T) -> _T:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with every string masked,
    dict keys included; a string under a secret-like key is masked whole when it looks like one."""
    memo: dict[str, str] = {}  # a verdict repeats most strings (kinds, statuses, keys): each is scanned once
    secret_key: dict[str, bool] = {}

    def one(s: str) -> str:
        out = memo.get(s)
        if out is None:
            out = memo[s] = text(s)
        return out

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if isinstance(item, str):
                    shown = one(item)
                    if isinstance(k, str):
                        named = secret_key.get(k)
                        if named is None:
                            named = secret_key[k] = _SECRET_NAME.search(k) is not None
                        if named and shown == item and secret_value(item) and not CLOUD_KEY.fullmatch(item):
                            shown = mask(item)
                elif isinstance(item, (dict, list, tuple)):
                    shown = walk(item)
                else:
                    shown = item
                out[one(k) if isinstance(k, str) else k] = shown
            return out
        if isinstance(v, (list, tuple)):
            return [one(i) if isinstance(i, str) else walk(i) if isinstance(i, (dict, list, tuple)) else i for i in v]
        return one(v) if isinstance(v, str) else v

    return cast(_T, walk(value))
