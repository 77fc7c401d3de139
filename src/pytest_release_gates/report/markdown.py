"""Markdown summary, appended to ``$GITHUB_STEP_SUMMARY`` when it is set."""

from __future__ import annotations

from typing import Any

_ICON = {"deploy": "✅", "hold": "⏸️", "rollback": "⛔"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def render(doc: dict[str, Any]) -> str:
    verdict = doc["verdict"]
    c = doc["tests"]
    lines = [
        f"## {_ICON.get(verdict, '')} Release gate: **{verdict}**"
        + ("" if doc.get("complete", True) else " (incomplete)"),
        "",
        f"{c['passed']} passed, {c['failed']} failed, {c['errors']} errors, {c['skipped']} skipped",
        "",
    ]
    if doc["reasons"]:
        lines += [f"- {_cell(r)}" for r in doc["reasons"]] + [""]
    rows = [g for g in doc["gates"] if g["status"] != "pass"]
    if rows:
        lines += ["| kind | subject | status | level | message |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {g['kind']} | {_cell(g['subject'])} | {g['status']} | {g['level']} | {_cell(g['message'])} |"
            for g in rows
        ]
        lines.append("")
    return "\n".join(lines) + "\n"


def append_step_summary(path: str, doc: dict[str, Any]) -> str | None:
    """Append to the GitHub step summary; returns an error message instead of raising."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(render(doc))
    except OSError as exc:
        return f"could not append to GITHUB_STEP_SUMMARY ({path}): {exc.strerror or exc}"
    return None
