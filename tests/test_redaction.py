"""Nothing leaked: a secret in a failure message never reaches a file or line the plugin writes.

The inner runs put a GitHub token, an AWS key, a high-entropy password and a private-key block into an
assertion, an exception message, a log record, a warning and a test id, then look for them in every
output: the verdict, the HTML report, the step summary, GITHUB_OUTPUT, the annotations, SARIF, the
JUnit XML properties, the dotenv report, the history, ``release-gate status`` and the release-gate
section of the terminal. (pytest's own traceback and its JUnit failure text are pytest's output, not
the plugin's: they are not looked at.)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from conftest import GateRun
from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_release_gates import redact
from pytest_release_gates.gates.integrity import rules

RunGate = Callable[..., GateRun]

# Built at run time in the inner test module, so this file's own source holds none of them whole.
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
AWS = "AKIA" + "IOSFODNN7EXAMPLE"
PASSWORD = "Zx81kQp0" + "aLm3Vn7TyR2wEe9s"
KEY_BODY = "MIIEowIBAAKCAQEAu1SU1L" + "fVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0"
SECRETS = (GH, AWS, PASSWORD, KEY_BODY)

LEAKY_TESTS = f'''
import logging, time, warnings
import pytest

GH = {GH[:4]!r} + {GH[4:]!r}
AWS = {AWS[:4]!r} + {AWS[4:]!r}
PASSWORD = {PASSWORD[:8]!r} + {PASSWORD[8:]!r}
KEY = ("-----BEGIN RSA PRIVATE KEY-----\\n" + {KEY_BODY[:22]!r} + {KEY_BODY[22:]!r}
       + "\\n-----END RSA PRIVATE KEY-----\\n")

def test_assertion():
    token = GH
    assert token == "expected"

def test_exception():
    raise ValueError(f"login refused: {{{{'user': 'bob', 'password': {{PASSWORD!r}}, 'aws': {{AWS!r}}}}}}")

def test_log_warning_and_key():
    logging.getLogger("app").error("connecting with password = %r and token=%s", PASSWORD, GH)
    warnings.warn(f"deprecated: token='{{GH}}'", DeprecationWarning)
    assert not KEY.startswith("-----BEGIN")  # pytest shows KEY's repr in the last line

@pytest.mark.parametrize("key", [AWS])
@pytest.mark.budget(0.05)
def test_id(key):
    time.sleep(0.15)
'''

CONFIG = """
[tool.release_gates]
flaky_level = "hold"
flaky_min_failures = 2
"""
SECRETS_RULE = """
[tool.release_gates.integrity]
patterns = ["*.cfg"]
manifest = false
rules = ["secrets"]
"""


def _leaks(text: str) -> list[str]:
    """The secrets, or a quarter of one (a part pytest's saferepr left of a cut one), found in ``text``."""
    return [s for s in SECRETS if s in text or any(s[i:i + len(s) // 4] in text
                                                      for i in range(0, len(s) - len(s) // 4 + 1, 2))]


def _junit_properties(path: str) -> str:
    root = ET.parse(path).getroot()
    return "\n".join(f"{p.get('name')}={p.get('value')}" for p in root.iter("property"))


def _gate_section(stdout: str) -> str:
    """The plugin's part of the terminal: its annotation lines and the release-gate section."""
    annotations = [line for line in stdout.splitlines() if line.startswith("::")]
    return "\n".join(annotations) + "\n" + stdout[stdout.index("release gate: "):]


@pytest.mark.parametrize("with_rule", [True, False], ids=["secrets-rule", "no-secrets-rule"])
def test_no_output_contains_a_secret(pytester: pytest.Pytester, run_gate: RunGate, run_cli,
                                     monkeypatch: pytest.MonkeyPatch, with_rule: bool) -> None:
    pytester.makepyprojecttoml(CONFIG + (SECRETS_RULE if with_rule else ""))
    (pytester.path / "app.cfg").write_text(f'api_key = "{PASSWORD}"\n', encoding="utf-8")
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    for name in ("summary.md", "out.txt"):
        (pytester.path / name).write_text("", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "summary.md"))
    monkeypatch.setenv("GITHUB_OUTPUT", str(pytester.path / "out.txt"))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    args = ["--gate-report=r.html", "--gate-sarif=r.sarif", "--gate-dotenv=r.env", "--junitxml=j.xml",
            "--disable-warnings", "-rN"]
    if not with_rule:
        args += ["-n", "2"]
    run = run_gate(*args)
    assert run.level == "hold"

    v = run.verdict
    subjects = {g["subject"] for g in v["gates"]}
    # The ids of the failing tests are intact; the one that carries a key is masked where shown.
    assert {"test_leaky.py::test_assertion", "test_leaky.py::test_exception",
            "test_leaky.py::test_log_warning_and_key"} <= subjects
    assert any(s.startswith("test_leaky.py::test_id[AK******(20 chars)]") for s in subjects), subjects
    messages = "\n".join(g["message"] for g in v["gates"])
    assert "gh******(" in messages  # the private key's test fails with "assert not True": nothing to mask
    assert "'password': 'Zx******(24 chars)'" in messages
    if with_rule:
        (finding,) = [g for g in v["gates"] if g["kind"] == "integrity" and g["subject"] == "app.cfg"]
        assert finding["status"] == "fail" and "Zx******(24 chars)" in finding["message"]

    outputs = {
        "verdict.json": run.path.read_text(encoding="utf-8"),
        "HTML report": (pytester.path / "r.html").read_text(encoding="utf-8"),
        "step summary": (pytester.path / "summary.md").read_text(encoding="utf-8"),
        "GITHUB_OUTPUT": (pytester.path / "out.txt").read_text(encoding="utf-8"),
        "SARIF": (pytester.path / "r.sarif").read_text(encoding="utf-8"),
        "dotenv": (pytester.path / "r.env").read_text(encoding="utf-8"),
        "JUnit properties": _junit_properties(str(pytester.path / "j.xml")),
        "history": (pytester.path / ".release-gates" / "history.jsonl").read_text(encoding="utf-8"),
        "terminal": _gate_section(run.stdout),
    }
    assert "AK******(20 chars)" in outputs["terminal"] and "::error file=test_leaky.py" in outputs["terminal"]
    assert "release_gate.reason=" in outputs["JUnit properties"]
    status = run_cli("status")
    outputs["release-gate status"] = status.stdout.str()
    assert {name: _leaks(text) for name, text in outputs.items() if _leaks(text)} == {}

    # The history stores the masked id; the next run still matches it: a repeated failure.
    again = run_gate(*args)
    flaky = [g for g in again.gates("flaky") if g["status"] == "fail"]
    assert any(g["subject"].startswith("test_leaky.py::test_id[AK******") for g in flaky), flaky
    assert not _leaks(again.path.read_text(encoding="utf-8"))


def test_status_masks_a_verdict_written_before_masking(pytester: pytest.Pytester, run_cli) -> None:
    (pytester.path / "v.json").write_text(json.dumps({
        "schema": "pytest-release-gates/verdict/1", "verdict": "hold", "complete": True,
        "reasons": [f"t.py::test failed: assert '{GH}' == 'x'"], "gates": [], "tests": {},
    }), encoding="utf-8")
    r = run_cli("status", "v.json")
    assert r.ret == 1 and GH not in r.stdout.str() and "gh******(40 chars)" in r.stdout.str()


def test_a_long_message_is_cut_between_words(pytester: pytest.Pytester, run_gate: RunGate) -> None:
    """Cut at 200 characters, half a token would no longer be recognised as one and would leak."""
    pytester.makepyfile(test_long=f'''
        def test_long():
            raise RuntimeError("x" * 150 + " " + {GH[:4]!r} + {GH[4:]!r})
    ''')
    run = run_gate()
    (g,) = run.gates("tests", "fail")
    assert g["message"].endswith("xxx …") and GH[:10] not in g["message"], g["message"]


# ------------------------------------------------------------------ the detector


@pytest.mark.parametrize(("shown", "masked"), [
    (f"AssertionError: assert '{GH}' == 'expected'", "AssertionError: assert 'gh******(40 chars)' == 'expected'"),
    (f"+ {GH}", "+ gh******(40 chars)"),
    (f"Client(token='{PASSWORD}')", "Client(token='Zx******(24 chars)')"),
    (f"{{'user': 'bob', 'api_key': '{PASSWORD}'}}", "{'user': 'bob', 'api_key': 'Zx******(24 chars)'}"),
    (f'password = "{PASSWORD}"', 'password = "Zx******(24 chars)"'),
    (f"AWS_SECRET_ACCESS_KEY={PASSWORD}/K7MDENG", "AWS_SECRET_ACCESS_KEY=Zx******(32 chars)"),
    (f"?access_token={PASSWORD}&x=1", "?access_token=Zx******(24 chars)&x=1"),
    (f"key {AWS} here", "key AK******(20 chars) here"),
    (f"'-----BEGIN RSA PRIVATE KEY-----\\n{KEY_BODY}\\n-----END RSA PRIVATE KEY-----\\n' == ''",
     "'[RSA PRIVATE KEY masked]\\n' == ''"),
    (f"-----BEGIN OPENSSH PRIVATE KEY-----\\n{KEY_BODY}", "[OPENSSH PRIVATE KEY masked]"),  # cut short
    # Cut short by someone else's [:300]: the part that is left is still masked.
    (f"the test fails (assert '{GH[:18]}", "the test fails (assert 'gh******(18 chars)"),
    (f'password = "{PASSWORD[:11]}', 'password = "Zx******(11 chars)'),
    # Cut in the middle by pytest's saferepr (the first line of an assertion's crash message).
    (f"assert '{GH[:12]}...{GH[-16:]}' == 'expected'", "assert 'gh******(31 chars)' == 'expected'"),
    (f"got {AWS[:10]}…{AWS[-4:]}", "got AK******(15 chars)"),
])
def test_failure_message_shapes_are_masked(shown: str, masked: str) -> None:
    assert redact.text(shown) == masked


ORDINARY = [
    "tests/test_tokens.py::test_token_refresh[case-1]",
    "tests/test_api.py::test_password_reset::duration",
    "src/app2/secrets_store.py",
    "secrets: src/app2/settings.py:3: API_TOKEN = Zx******(24 chars)",
    "token_count: 1234567890123456",
    "--secret-file=/tmp/abc/d3f/secret.txt",
    "secret_path: ./build/k8s-secrets3.yaml",
    "commit 3f2a9c1e5b7d4a60c8e2f1b3d5a7c9e0f2b4d6a8",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "new error type builtins.KeyError first in tests/test_auth.py::test_token at src/app/auth.py:12",
    "password_reset took 0.0021 s, budget 1.00 s (<0.01x)",
    "-----BEGIN PUBLIC KEY-----",
    "credentials: 3 loaded",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact.text(text) == text


def test_document_masks_keys_and_values_under_secret_like_names() -> None:
    doc = {"gates": [{"subject": f"t.py::t[{AWS}]", "message": "ok", "extra": {"api_token": PASSWORD, "n": 3}}],
           "metrics": {f"t.py::t[{AWS}]::m": {"m": 1.0}}, "commit": "3f2a9c1e5b7d4a60c8e2f1b3d5a7c9e0f2b4d6a8"}
    out = redact.document(doc)
    assert out["gates"][0] == {"subject": "t.py::t[AK******(20 chars)]", "message": "ok",
                               "extra": {"api_token": "Zx******(24 chars)", "n": 3}}
    assert list(out["metrics"]) == ["t.py::t[AK******(20 chars)]::m"]
    assert out["commit"] == doc["commit"] and doc["gates"][0]["extra"]["api_token"] == PASSWORD  # a copy


def test_the_rule_and_the_masking_share_their_detectors() -> None:
    text = f'API_TOKEN = "{PASSWORD}"\nkey = "{AWS}"\n-----BEGIN OPENSSH PRIVATE KEY-----\n'
    found = rules.scan_text("a.py", text, ["secrets"])
    assert [f.preview for f in found] == ["[OPENSSH PRIVATE KEY masked]", f"access key {redact.mask(AWS)}",
                                          f"API_TOKEN = {redact.mask(PASSWORD)}"]
    assert not rules.scan_text("a.py", redact.text(text), ["secrets"])  # masked text has nothing left to flag


# ------------------------------------------------------------------ properties

_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_high_entropy = st.text(_ALNUM, min_size=20, max_size=60).filter(lambda s: redact.secret_value(s)
                                                                  and any(c.isdigit() for c in s))
_NAMED = ["token={}", "token='{}'", 'password = "{}"', "{{'api_key': '{}'}}", "API_KEY: {}", "Client(secret={!r})"]
_access_key = st.one_of(
    st.text(_ALNUM, min_size=36, max_size=40).map(lambda s: "ghp_" + s),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16).map(lambda s: "AKIA" + s),
)
# An access key is recognised anywhere; any other value only where a secret-like name is given to it.
_secret_in_shape = st.one_of(
    st.tuples(_access_key, st.sampled_from([*_NAMED, "assert '{}' == 'expected'", "+ {}"])),
    st.tuples(_high_entropy, st.sampled_from(_NAMED)),
)
_filler = st.text(st.characters(codec="utf-8", exclude_characters="'\"=:"), max_size=40)


@given(prefix=_filler, secret_in_shape=_secret_in_shape, suffix=_filler)
def test_masked_text_never_holds_the_secret(prefix: str, secret_in_shape: tuple[str, str], suffix: str) -> None:
    secret, shape = secret_in_shape
    assume(secret not in prefix + suffix)  # the filler itself is ordinary text
    shown = f"{prefix} {shape.format(secret)} {suffix}"
    masked = redact.text(shown)
    assert secret not in masked
    assert redact.text(masked) == masked


@given(st.text())
def test_masking_is_idempotent(text: str) -> None:
    once = redact.text(text)
    assert redact.text(once) == once


_word = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_ordinary = st.one_of(
    st.builds("tests/test_{}.py::test_{}[{}]".format, _word, _word, st.integers(0, 999)),
    st.builds("src/{}/{}.py:{}".format, _word, _word, st.integers(1, 9999)),
    st.text("0123456789abcdef", min_size=40, max_size=64),
    st.builds("took {:.4f} s, budget {:.2f} s ({}x)".format, st.floats(0, 100), st.floats(0.01, 100),
              st.integers(0, 99)),
    st.text(st.characters(codec="ascii"), max_size=80).filter(
        lambda s: not any(h in s.lower() for h in ("secret", "token", "passw", "pwd", "key", "credential", "akia",
                                                   "asia", "agpa", "aida", "aroa", "anpa", "anva", "aipa", "gh",
                                                   "aiza", "xox", "sk_live", "glpat", "private"))),
)


@given(_ordinary)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact.text(text) == text

