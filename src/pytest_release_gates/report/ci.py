"""CI adapters: the verdict document in the shapes CI systems read. Each is a pure function of it.

- ``$GITHUB_OUTPUT``: ``verdict=hold`` and a multi-line ``reasons`` (heredoc syntax), so a later job
  reads ``needs.<job>.outputs.verdict``;
- GitHub annotations (``::error file=...,line=...::``) for integrity/content findings and budgets;
  GitHub keeps only 10 per type per step, so the most severe come first and one line sums up the rest;
- a GitLab dotenv report (``RELEASE_GATE_VERDICT=hold``), within GitLab's dotenv limits;
- testsuite-level properties in pytest's own ``--junitxml`` file;
- SARIF 2.1.0 for integrity/content findings, with stable ``partialFingerprints``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from ..model import UsageError

#: GitHub shows at most 10 annotations of each type per step.
GITHUB_MAX_PER_TYPE: Final = 10
ANNOTATED_KINDS: Final = ("integrity", "budget")
SARIF_KINDS: Final = ("integrity",)
SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
JUNIT_MAX_GATES: Final = 1000
#: GitLab refuses a dotenv report over 5 KB; one reason line stays well below.
DOTENV_MAX_VALUE: Final = 1000

_STATUS_RANK: Final = {"fail": 0, "warn": 1, "pass": 2}
_LEVEL_RANK: Final = {"rollback": 0, "hold": 1, "deploy": 2}


# ------------------------------------------------------------------ GitHub


def github_output_text(verdict: Mapping[str, Any], *, delimiter: str | None = None) -> str:
    """Lines to append to ``$GITHUB_OUTPUT``; ``reasons`` uses a delimiter no reason contains."""
    reasons = "\n".join(_one_line(r) for r in verdict.get("reasons", ()))
    delim = delimiter or f"RELEASE_GATE_EOF_{secrets.token_hex(8)}"
    while delim in reasons:
        delim = f"RELEASE_GATE_EOF_{secrets.token_hex(8)}"
    failing = sum(1 for g in verdict.get("gates", ()) if g.get("status") == "fail")
    return (
        f"verdict={verdict.get('verdict')}\n"
        f"complete={'true' if verdict.get('complete', True) else 'false'}\n"
        f"failing-gates={failing}\n"
        f"reasons<<{delim}\n{reasons}\n{delim}\n"
    )


def append_github_output(path: str, verdict: Mapping[str, Any]) -> None:
    """Append (GitHub's file collects every step's outputs: never replace it)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(github_output_text(verdict))
    except OSError as exc:
        raise UsageError(f"GITHUB_OUTPUT ({path}): cannot append: {exc.strerror or exc}") from None


def escape_data(text: str) -> str:
    """A workflow command's message: ``%``, CR and LF are percent-encoded (GitHub's rules)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _severity_key(g: Mapping[str, Any]) -> tuple[int, int, float, str]:
    value, limit = g.get("value"), g.get("limit")
    ratio = float(value) / float(limit) if isinstance(value, (int, float)) and isinstance(limit, (int, float)) \
        and limit else 0.0
    return (_STATUS_RANK.get(str(g.get("status")), 3), _LEVEL_RANK.get(str(g.get("level")), 3), -ratio,
            str(g.get("subject")))


def github_annotations(verdict: Mapping[str, Any], *, locations: Mapping[str, tuple[str, int]] | None = None,
                path_prefix: str = "") -> list[str]:
    """``::error``/``::warning`` lines for failing/warning integrity and budget gates, most severe first.

    ``locations`` maps a test id to (file, line) for budgets; ``path_prefix`` (the rootdir relative to
    the repository) is put before paths so GitHub can place them in the diff.
    """
    chosen = [g for g in verdict.get("gates", ())
              if g.get("kind") in ANNOTATED_KINDS and g.get("status") in ("fail", "warn")]
    chosen.sort(key=_severity_key)
    out: list[str] = []
    for command in ("error", "warning"):
        group = [g for g in chosen if (g.get("status") == "fail") == (command == "error")]
        room = GITHUB_MAX_PER_TYPE if len(group) <= GITHUB_MAX_PER_TYPE else GITHUB_MAX_PER_TYPE - 1
        for g in group[:room]:
            out.append(_annotation(command, g, locations or {}, path_prefix))
        rest = group[room:]
        if rest:
            kinds = sorted({str(g.get("kind")) for g in rest})
            out.append(f"::{command} title={escape_property('release gate')}::"
                       + escape_data(f"{len(rest)} more {' and '.join(kinds)} finding(s) not annotated "
                                     f"(GitHub shows {GITHUB_MAX_PER_TYPE} per step): see the verdict file"))
    return out


_LINE_IN_MESSAGE: Final = re.compile(r"\bline (\d+)\b")


def finding_line(g: Mapping[str, Any]) -> int | None:
    """The line a finding is on: its ``line`` field, else "line N" in its message."""
    line = g.get("line")
    if isinstance(line, int) and not isinstance(line, bool):
        return line if line > 0 else None
    m = _LINE_IN_MESSAGE.search(str(g.get("message", "")))
    return int(m.group(1)) if m else None


def is_path(subject: str) -> bool:
    """Integrity gates about the check itself use words ("rules", "patterns") as subject, not files."""
    return "/" in subject or "." in subject


def _annotation(command: str, g: Mapping[str, Any], locations: Mapping[str, tuple[str, int]], prefix: str) -> str:
    subject = str(g.get("subject", ""))
    kind = str(g.get("kind"))
    props: list[str] = []
    file: str | None = None
    line = finding_line(g)
    if kind == "budget":
        loc = locations.get(subject)
        if loc is not None:
            file, line = loc
        elif "::" in subject:
            file = subject.split("::", 1)[0]
    elif is_path(subject):
        file = subject
    if file:
        props.append(f"file={escape_property(prefix + file)}")
        if line:
            props.append(f"line={int(line)}")
    level = f" ({g.get('level')})" if g.get("status") == "fail" else ""
    rule = g.get("rule")
    title = f"release gate: {kind}{f' {rule}' if rule else ''}{level}"
    props.append(f"title={escape_property(title)}")
    message = f"{subject}: {g.get('message', '')}" if subject else str(g.get("message", ""))
    return f"::{command} {','.join(props)}::{escape_data(message)}"


# ------------------------------------------------------------------ GitLab


_UNSAFE_DOTENV: Final = re.compile(r"[\x00-\x1f\x7f\"'`$\\]")


def dotenv_text(verdict: Mapping[str, Any]) -> str:
    """GitLab's dotenv: one ``KEY=value`` per line, no quotes, no blank lines, single-line values."""
    reasons = [str(r) for r in verdict.get("reasons", ())]
    first = _UNSAFE_DOTENV.sub(" ", reasons[0]).strip()[:DOTENV_MAX_VALUE] if reasons else ""
    failing = sum(1 for g in verdict.get("gates", ()) if g.get("status") == "fail")
    lines = [
        f"RELEASE_GATE_VERDICT={verdict.get('verdict')}",
        f"RELEASE_GATE_COMPLETE={'true' if verdict.get('complete', True) else 'false'}",
        f"RELEASE_GATE_FAILING_GATES={failing}",
        f"RELEASE_GATE_REASONS={len(reasons)}",
    ]
    if first:
        lines.append(f"RELEASE_GATE_REASON={first}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ JUnit XML


def junit_properties(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, value) testsuite properties: the verdict, its reasons, then the gates, failing first."""
    props = [
        ("release_gate.verdict", str(verdict.get("verdict"))),
        ("release_gate.complete", "true" if verdict.get("complete", True) else "false"),
    ]
    props += [("release_gate.reason", _one_line(r)) for r in verdict.get("reasons", ())]
    gates = sorted(verdict.get("gates", ()), key=_severity_key)
    for g in gates[:JUNIT_MAX_GATES]:
        level = f" -> {g.get('level')}" if g.get("status") == "fail" else ""
        subject = f"{g.get('subject')} " if g.get("subject") else ""
        props.append((f"release_gate.{g.get('kind')}", _one_line(f"{g.get('status')}{level}: {subject}"
                                                                    f"{g.get('message', '')}")))
    if len(gates) > JUNIT_MAX_GATES:
        props.append(("release_gate.more", f"{len(gates) - JUNIT_MAX_GATES} more gates in the verdict file"))
    return props


def add_junit_properties(config: Any, verdict: Mapping[str, Any]) -> bool:
    """Add the properties to pytest's LogXML (written after this, in its own sessionfinish)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest moved it
        return False
    xml = config.stash.get(xml_key, None)
    if xml is None:
        return False
    for name, value in junit_properties(verdict):
        xml.add_global_property(name, value)
    return True


# ------------------------------------------------------------------ SARIF


def fingerprint(g: Mapping[str, Any], rule_id: str) -> str:
    """Stable across runs: rule, file and what was found, never line numbers or timings."""
    basis = g.get("fingerprint") or g.get("key") or re.sub(r"\d+", "#", str(g.get("message", "")))
    raw = "\x1f".join((rule_id, str(g.get("subject", "")), str(basis)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def _rule_id(g: Mapping[str, Any]) -> str:
    rule = g.get("rule") or g.get("change") or g.get("metric")
    if not rule:
        msg = str(g.get("message", ""))
        rule = next((w for w in ("modified", "added", "removed", "missing") if w in msg), "difference")
    return f"release-gate/{g.get('kind')}/{rule}"


def sarif(verdict: Mapping[str, Any], *, version: str = "", root_uri: str | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of the integrity and content findings (warn and fail) of this run."""
    findings = [g for g in verdict.get("gates", ())
                if g.get("kind") in SARIF_KINDS and g.get("status") in ("fail", "warn")]
    findings.sort(key=_severity_key)
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for g in findings:
        rule_id = _rule_id(g)
        rules.setdefault(rule_id, {
            "id": rule_id,
            "name": rule_id.rsplit("/", 1)[-1],
            "shortDescription": {"text": f"release gate {g.get('kind')}: {rule_id.rsplit('/', 1)[-1]}"},
        })
        result: dict[str, Any] = {
            "ruleId": rule_id,
            "level": "error" if g.get("status") == "fail" else "warning",
            "message": {"text": str(g.get("message", "")) or rule_id},
            "partialFingerprints": {"releaseGateFinding/v1": fingerprint(g, rule_id)},
            "properties": {"verdictLevel": g.get("level"), "status": g.get("status")},
        }
        subject = str(g.get("subject", ""))
        if is_path(subject):
            location: dict[str, Any] = {"artifactLocation": {"uri": subject, "uriBaseId": "SRCROOT"}}
            line = finding_line(g)
            if line:
                location["region"] = {"startLine": line}
            result["locations"] = [{"physicalLocation": location}]
        results.append(result)
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "pytest-release-gates",
            "version": version or "0",
            "informationUri": "https://pypi.org/project/pytest-release-gates/",
            "rules": sorted(rules.values(), key=lambda r: str(r["id"])),
        }},
        "results": results,
        "invocations": [{"executionSuccessful": bool(verdict.get("complete", True))}],
        "properties": {"verdict": verdict.get("verdict")},
    }
    if root_uri:
        run["originalUriBaseIds"] = {"SRCROOT": {"uri": root_uri}}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def root_uri(rootdir: Path) -> str:
    uri = Path(rootdir).resolve().as_uri()
    return uri if uri.endswith("/") else uri + "/"


# ------------------------------------------------------------------ helpers


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())
