"""CI adapters end to end: GITHUB_OUTPUT, GitHub annotations, GitLab dotenv, JUnit XML properties, SARIF."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_release_gates.report import ci

#: Inner runs go in-process (conftest ``run_gate``): the CI outputs are files named by environment
#: variables read at run time. Every ``-n`` run stays a subprocess.
RUN_GATE_INLINE = True


# A third-party gate plugin (the documented extension point) that reports integrity findings and
# budgets, so these tests do not depend on how the built-in gates phrase theirs.
FINDINGS_CONFTEST = '''
import json, pathlib
from pytest_release_gates.model import GateResult, Level, Status

def pytest_release_gates_collect(context):
    spec = json.loads((pathlib.Path(__file__).parent / "findings.json").read_text())
    for f in spec:
        yield GateResult(f["kind"], f["subject"], Status(f["status"]), Level.parse(f.get("level", "hold")),
                         f["message"], metric=f.get("metric"), value=f.get("value"), limit=f.get("limit"),
                         extra=f.get("extra", {}))
'''


@pytest.fixture(autouse=True)
def _no_ci_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)


def findings(pytester: pytest.Pytester, items: list[dict]) -> None:
    pytester.makeconftest(FINDINGS_CONFTEST)
    (pytester.path / "findings.json").write_text(json.dumps(items), encoding="utf-8")


def integrity(path: str, message: str, *, status: str = "fail", level: str = "hold", **extra: object) -> dict:
    return {"kind": "integrity", "subject": path, "status": status, "level": level, "message": message,
            "extra": extra}


def budget(nodeid: str, value: float, limit: float, *, status: str = "fail") -> dict:
    return {"kind": "budget", "subject": nodeid, "status": status, "level": "hold", "metric": "seconds",
            "value": value, "limit": limit, "message": f"took {value} s, budget {limit} s"}


def parse_github_output(text: str) -> dict[str, str]:
    """GitHub's parser for $GITHUB_OUTPUT: name=value lines and name<<DELIM heredocs."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body = []
            i += 1
            while lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


# ------------------------------------------------------------------ GITHUB_OUTPUT


def test_github_output(pytester: pytest.Pytester, run_gate, monkeypatch: pytest.MonkeyPatch) -> None:
    out = pytester.path / "gh_output"
    out.write_text("earlier=step\n", encoding="utf-8")  # other steps' outputs stay
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    findings(pytester, [integrity("src/app.py", "modified\nsecond line")])
    pytester.makepyfile("def test_ok(): pass\ndef test_bad(): assert 0\n")
    r = run_gate()
    assert r.level == "hold"
    values = parse_github_output(out.read_text(encoding="utf-8"))
    assert values["earlier"] == "step"
    assert values["verdict"] == "hold" and values["complete"] == "true"
    reasons = values["reasons"].split("\n")
    assert reasons == [" ".join(x.split()) for x in r.verdict["reasons"]]  # one reason per line
    assert any("src/app.py modified second line" in x for x in reasons)
    assert int(values["failing-gates"]) == 2


def test_github_output_deploy_and_unset(pytester: pytest.Pytester, run_gate, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    run_gate()
    assert not list(pytester.path.glob("gh_*"))
    out = pytester.path / "gh_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    r = run_gate()
    assert r.ret == 0
    values = parse_github_output(out.read_text(encoding="utf-8"))
    assert values["verdict"] == "deploy" and values["reasons"] == ""


def test_heredoc_delimiter_never_appears_in_reasons() -> None:
    doc = {"verdict": "hold", "reasons": ["RELEASE_GATE_EOF_x", "a"], "gates": []}
    text = ci.github_output_text(doc, delimiter="RELEASE_GATE_EOF_x")
    delim = re.search(r"^reasons<<(.+)$", text, re.M).group(1)  # type: ignore[union-attr]
    assert delim != "RELEASE_GATE_EOF_x"
    assert parse_github_output(text)["reasons"] == "RELEASE_GATE_EOF_x\na"


# ------------------------------------------------------------------ annotations


def annotation_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(("::error", "::warning"))]


def test_annotations_most_severe_first_and_capped(pytester: pytest.Pytester, run_gate,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    items = [integrity(f"src/mod{i:02d}.py", f"modified {i}", line=i + 1) for i in range(14)]
    items.append(integrity("src/keys.py", "secret: private key\nheader found, 100% sure", level="rollback",
                           rule="secrets", line=3))
    items += [budget("test_ok.py::test_ok", 3.0, 1.0), budget("test_ok.py::test_ok", 1.2, 1.0)]
    items += [integrity(f"docs/w{i}.md", "added", status="warn") for i in range(3)]
    items.append({"kind": "regression", "subject": "x", "status": "fail", "level": "hold",
                  "message": "slower-sentinel"})
    findings(pytester, items)
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    r = run_gate()
    lines = annotation_lines(r.stdout)
    errors = [x for x in lines if x.startswith("::error")]
    warnings = [x for x in lines if x.startswith("::warning")]
    assert len(errors) == 10  # GitHub shows 10 per type: 9 findings and one summary line
    assert len(warnings) == 3
    # the rollback finding first, with its file, line and escaped message
    assert errors[0] == (
        "::error file=src/keys.py,line=3,title=release gate%3A integrity secrets (rollback)::"
        "src/keys.py: secret: private key%0Aheader found%2C 100%25 sure".replace("%2C", ",")
    )
    # then the worst budget (ratio 3.0), placed on the test function
    assert errors[1].startswith("::error file=test_ok.py,line=1,title=release gate%3A budget (hold)::")
    assert "took 3.0 s" in errors[1]
    assert errors[-1].startswith("::error title=release gate::")
    assert "8 more integrity finding(s)" in errors[-1]  # 17 errors: 9 shown, 8 summed up
    assert not any("slower-sentinel" in x for x in lines)  # regressions are not annotated
    assert all("\n" not in x and "\r" not in x for x in lines)


def test_annotations_only_on_github(pytester: pytest.Pytester, run_gate) -> None:
    findings(pytester, [integrity("src/a.py", "modified")])
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.level == "hold" and annotation_lines(r.stdout) == []


def test_annotation_paths_are_relative_to_the_workspace(pytester: pytest.Pytester, run_gate,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(pytester.path.parent))
    findings(pytester, [integrity("src/a.py", "modified")])
    pytester.makepyfile("def test_ok(): pass\n")
    (line,) = annotation_lines(run_gate().stdout)
    assert line.startswith(f"::error file={pytester.path.name}/src/a.py,")


def test_escaping_rules() -> None:
    assert ci.escape_data("a%b\r\nc") == "a%25b%0D%0Ac"
    assert ci.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"


# ------------------------------------------------------------------ GitLab dotenv


def test_dotenv(pytester: pytest.Pytester, run_gate) -> None:
    findings(pytester, [integrity("src/a.py", 'modified "quoted" $HOME\nnext\tline ' + "x" * 3000)])
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate("--gate-dotenv=ci/out/gate.env")
    path = pytester.path / "ci/out/gate.env"
    text = path.read_text(encoding="utf-8")
    assert f"dotenv written to {path}" in r.stdout
    lines = text.splitlines()
    assert lines[0] == "RELEASE_GATE_VERDICT=hold"
    assert "RELEASE_GATE_COMPLETE=true" in lines and "RELEASE_GATE_FAILING_GATES=1" in lines
    assert all(re.fullmatch(r"[A-Z_]+=[^\n\"'$`\\]*", x) for x in lines), lines  # GitLab's dotenv rules
    assert len(text.encode()) < 5 * 1024 and len(lines) <= 20
    reason = dict(x.split("=", 1) for x in lines)["RELEASE_GATE_REASON"]
    assert reason.startswith("src/a.py modified  quoted   HOME next line")


def test_dotenv_deploy(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    run_gate("--gate-dotenv=gate.env")
    text = (pytester.path / "gate.env").read_text(encoding="utf-8")
    assert text.startswith("RELEASE_GATE_VERDICT=deploy\n") and "RELEASE_GATE_REASON=" not in text


# ------------------------------------------------------------------ JUnit XML


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_junitxml_properties(pytester: pytest.Pytester, run_gate, xdist: bool) -> None:
    if xdist:
        pytest.importorskip("xdist")
    findings(pytester, [integrity("src/<a>.py", "modified & \"odd\"")])
    pytester.makepyfile("def test_ok(): pass\ndef test_bad(): assert 0\n")
    args = ["--junitxml=reports/junit.xml"] + (["-n", "2"] if xdist else [])
    r = run_gate(*args)
    suite = ET.parse(pytester.path / "reports/junit.xml").getroot().find("testsuite")
    assert suite is not None
    props = [(p.get("name"), p.get("value")) for p in suite.iter("property")]
    assert ("release_gate.verdict", "hold") in props
    assert ("release_gate.complete", "true") in props
    reasons = [v for n, v in props if n == "release_gate.reason"]
    assert len(reasons) == len(r.verdict["reasons"]) == 2
    assert ("release_gate.integrity", 'fail -> hold: src/<a>.py modified & "odd"') in props
    gate_props = [n for n, _ in props if n not in ("release_gate.verdict", "release_gate.complete",
                                                    "release_gate.reason")]
    assert len(gate_props) == len(r.verdict["gates"])
    assert int(suite.get("tests", 0)) == 2  # the test cases are still there


def test_no_junitxml_no_properties(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate()
    assert r.ret == 0 and not list(pytester.path.glob("*.xml"))


# ------------------------------------------------------------------ SARIF


def sarif_of(pytester: pytest.Pytester, name: str = "out/gate.sarif") -> dict:
    return json.loads((pytester.path / name).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_sarif(pytester: pytest.Pytester, run_gate) -> None:
    items = [
        integrity("src/app.py", "modified (sha256 differs)", change="modified"),
        integrity("src/keys.py", "private key header on line 3", rule="secrets", line=3, level="rollback"),
        integrity("docs/new.md", "added", status="warn"),
        budget("test_ok.py::test_ok", 2.0, 1.0),  # budgets are not SARIF findings
    ]
    findings(pytester, items)
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    r = run_gate("--gate-sarif=out/gate.sarif")
    assert r.level == "rollback"
    doc = sarif_of(pytester)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    assert run["tool"]["driver"]["name"] == "pytest-release-gates"
    results = run["results"]
    assert [x["ruleId"] for x in results] == [
        "release-gate/integrity/secrets", "release-gate/integrity/modified", "release-gate/integrity/added"]
    assert [x["level"] for x in results] == ["error", "error", "warning"]
    first = results[0]
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "src/keys.py", "uriBaseId": "SRCROOT"}
    assert loc["region"] == {"startLine": 3}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file://")
    rule_ids = {x["id"] for x in run["tool"]["driver"]["rules"]}
    assert rule_ids == {x["ruleId"] for x in results}
    assert all(re.fullmatch(r"[0-9a-f]{32}", x["partialFingerprints"]["releaseGateFinding/v1"]) for x in results)


def test_sarif_fingerprints_are_stable(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    findings(pytester, [integrity("src/keys.py", "private key header on line 3", rule="secrets", line=3),
                        integrity("src/b.py", "modified")])
    run_gate("--gate-sarif=a.sarif")
    # the same findings, moved down the file and reported in another order
    findings(pytester, [integrity("src/b.py", "modified"),
                        integrity("src/keys.py", "private key header on line 9", rule="secrets", line=9)])
    run_gate("--gate-sarif=b.sarif")

    def prints(name: str) -> dict[str, str]:
        results = sarif_of(pytester, name)["runs"][0]["results"]
        return {x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]:
                x["partialFingerprints"]["releaseGateFinding/v1"] for x in results}

    a, b = prints("a.sarif"), prints("b.sarif")
    assert a == b and len(set(a.values())) == 2


def test_sarif_without_findings_is_valid_and_empty(pytester: pytest.Pytester, run_gate) -> None:
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate("--gate-sarif=gate.sarif")
    assert r.ret == 0
    doc = sarif_of(pytester, "gate.sarif")
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["invocations"][0]["executionSuccessful"] is True


# ------------------------------------------------------------------ bad paths


def test_unwritable_adapter_paths_warn_and_keep_the_verdict(pytester: pytest.Pytester, run_gate,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    (pytester.path / "blocked").write_text("a file where a folder should be")
    monkeypatch.setenv("GITHUB_OUTPUT", str(pytester.path / "blocked" / "out"))
    pytester.makepyfile("def test_ok(): pass\n")
    r = run_gate("--gate-dotenv=blocked/g.env", "--gate-sarif=blocked/g.sarif", "--gate-report=ok/report.html")
    assert r.ret == 0 and r.level == "deploy"
    out = r.stdout
    assert "WARNING: GitLab dotenv not written: " in out
    assert "WARNING: SARIF not written: " in out
    assert "WARNING: GITHUB_OUTPUT not written: " in out
    assert (pytester.path / "ok/report.html").is_file()  # one failing adapter does not stop the others
    assert "Traceback" not in out


def test_all_adapters_together_under_xdist(pytester: pytest.Pytester, run_gate,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(pytester.path / "gh_output"))
    findings(pytester, [integrity("src/a.py", "modified")])
    pytester.makepyfile(test_ok="import pytest\n@pytest.mark.parametrize('i', range(8))\ndef test_ok(i): pass\n")
    r = run_gate("-n", "2", "--gate-dotenv=g.env", "--gate-sarif=g.sarif", "--gate-report=r.html",
                 "--junitxml=j.xml")
    assert r.level == "hold"
    for name in ("g.env", "g.sarif", "r.html", "j.xml", "gh_output", ".release-gates/history.jsonl"):
        assert (pytester.path / name).is_file(), name
    assert annotation_lines(r.stdout) == [
        "::error file=src/a.py,title=release gate%3A integrity (hold)::src/a.py: modified"]
    assert Path(pytester.path / "g.env").read_text().startswith("RELEASE_GATE_VERDICT=hold")


def test_sarif_and_annotations_from_the_builtin_content_rules(pytester: pytest.Pytester, run_gate,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    pytester.makepyprojecttoml(
        '[tool.release_gates.integrity]\npatterns = ["*.txt"]\nmanifest = false\nrules = ["secrets"]\n')
    pytester.makepyfile(test_ok="def test_ok(): pass\n")
    key = pytester.path / "deploy_key.txt"
    key.write_text("hello\n-----BEGIN RSA PRIVATE KEY-----\nabc\n", encoding="utf-8")
    r = run_gate("--gate-sarif=a.sarif")
    assert r.level == "hold"
    (line,) = annotation_lines(r.stdout)
    assert line.startswith("::error file=deploy_key.txt,line=2,title=release gate%3A integrity secrets (hold)::")
    (result,) = sarif_of(pytester, "a.sarif")["runs"][0]["results"]
    assert result["ruleId"] == "release-gate/integrity/secrets"
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 2}
    key.write_text("moved\ndown\nhello\n-----BEGIN RSA PRIVATE KEY-----\nabc\n", encoding="utf-8")
    run_gate("--gate-sarif=b.sarif")
    (moved,) = sarif_of(pytester, "b.sarif")["runs"][0]["results"]
    assert moved["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    assert moved["partialFingerprints"] == result["partialFingerprints"]
