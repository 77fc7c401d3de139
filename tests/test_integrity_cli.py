"""``release-gate integrity generate|verify`` end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MANIFEST = Path("release-gates.integrity.json")  # committed beside the baseline (SPEC v3)


def rg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_release_gates", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


def assert_clean_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    for n in needles:
        assert n in err[0], err[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "app.py").write_text("print('app')\n")
    (tmp_path / "src" / "pkg" / "util.py").write_text("X = 1\n")
    (tmp_path / "README.md").write_text("# demo\n")
    return tmp_path


def test_seed_workflow(project: Path) -> None:
    gen = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert gen.returncode == 0, gen.stderr
    assert "2 files" in gen.stdout
    doc = json.loads((project / MANIFEST).read_text())
    assert doc["schema"] == "pytest-release-gates/integrity/1" and doc["algorithm"] == "sha256"
    assert doc["patterns"] == ["*.py"]
    assert sorted(doc["files"]) == ["src/app.py", "src/pkg/util.py"]
    assert set(doc["files"]["src/app.py"]) == {"sha256", "size", "mode"}
    text = (project / MANIFEST).read_text()
    assert text.endswith("}\n") and text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    ok = rg(project, "integrity", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (project / "src" / "app.py").write_text("print('tampered')\n")
    (project / "src" / "new.py").write_text("\n")
    (project / "src" / "pkg" / "util.py").unlink()
    before = sorted(str(p.relative_to(project)) for p in project.rglob("*"))
    bad = rg(project, "integrity", "verify")
    assert bad.returncode == 1
    assert "modified: src/app.py" in bad.stdout
    assert "added: src/new.py" in bad.stdout
    assert "removed: src/pkg/util.py" in bad.stdout
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*")) == before  # verify never writes


def test_generate_over_existing_manifest_shows_what_it_accepts(project: Path) -> None:
    assert rg(project, "integrity", "generate", "--patterns", "*.py").returncode == 0
    (project / "src" / "app.py").write_text("print('v2')\n")
    again = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert again.returncode == 0
    assert "accepting 1 change(s)" in again.stdout and "modified: src/app.py" in again.stdout
    assert rg(project, "integrity", "verify").returncode == 0
    same = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert "no file changed" in same.stdout


def test_sha256sum_companion_is_accepted_by_sha256sum(project: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not installed")
    (project / "src" / "we ird\nname ü.py").write_text("x\n")
    (project / "src" / "back\\slash.py").write_text("y\n")
    gen = rg(project, "integrity", "generate", "--patterns", "*.py", "--format", "sha256sum")
    assert gen.returncode == 0, gen.stderr
    companion = project / "release-gates.integrity.sha256"
    check = subprocess.run(["sha256sum", "-c", str(companion.relative_to(project))], cwd=project,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    (project / "src" / "app.py").write_text("changed\n")
    assert subprocess.run(["sha256sum", "-c", "--quiet", str(companion)], cwd=project, capture_output=True,
                          check=False).returncode == 1


def test_list_is_a_dry_run_per_pattern(project: Path) -> None:
    out = rg(project, "integrity", "generate", "--list", "--patterns", "*.py", "src/*.py", "*.rs")
    assert out.returncode == 0
    assert "'*.py' selects 2 file(s):" in out.stdout
    assert "'src/*.py' selects 1 file(s):" in out.stdout and "  src/app.py" in out.stdout
    assert "'*.rs' selects 0 file(s) (nothing)" in out.stdout
    assert not (project / MANIFEST).exists()


def test_patterns_selecting_nothing(project: Path) -> None:
    out = rg(project, "integrity", "generate", "--patterns", "*.rs")
    assert out.returncode == 2
    assert "warning: pattern '*.rs' selects nothing" in out.stderr
    assert "refusing to write an empty manifest" in out.stderr and "Traceback" not in out.stderr
    assert not (project / MANIFEST).exists()
    forced = rg(project, "integrity", "generate", "--patterns", "*.rs", "--allow-empty")
    assert forced.returncode == 0 and (project / MANIFEST).exists()
    assert rg(project, "integrity", "verify").returncode == 0
    partly = rg(project, "integrity", "generate", "--patterns", "*.py", "*.rs")
    assert partly.returncode == 0 and "pattern '*.rs' selects nothing" in partly.stderr


@pytest.mark.parametrize(("content", "needle"), [
    ("", "empty"),
    ("{\"schema\": \"pytest-release-gates/integrity/1\", \"algo", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({"schema": "pytest-release-gates/integrity/9", "algorithm": "sha256", "patterns": [], "files": {}}),
     "newer"),
    (json.dumps({"schema": "something/else", "files": {}}), "not a pytest-release-gates integrity manifest"),
    (json.dumps({"schema": "pytest-release-gates/integrity/1", "algorithm": "md5", "patterns": [], "files": {}}),
     "unsupported algorithm"),
    (json.dumps({"schema": "pytest-release-gates/integrity/1", "algorithm": "sha256", "patterns": ["*"],
                 "files": {"a.py": {"sha256": "zz", "size": 1, "mode": "0644"}}}), "sha256"),
    (json.dumps({"schema": "pytest-release-gates/integrity/1", "algorithm": "sha256", "patterns": ["*"],
                 "files": {"../../etc/passwd": {"sha256": "0" * 64, "size": 1, "mode": "0644"}}}), "unsafe path"),
    (json.dumps({"schema": "pytest-release-gates/integrity/1", "algorithm": "sha256", "patterns": ["*"],
                 "files": {"/etc/passwd": {"sha256": "0" * 64, "size": 1, "mode": "0644"}}}), "absolute path"),
])
def test_bad_manifests_are_one_line_errors(project: Path, content: str, needle: str) -> None:
    path = project / MANIFEST
    path.write_text(content)
    out = rg(project, "integrity", "verify")
    assert_clean_error(out, str(MANIFEST), needle)
    assert path.read_text() == content
    # generate refuses to overwrite what it cannot read, unless forced
    gen = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert gen.returncode == 2 and "--force" in gen.stderr
    assert path.read_text() == content


def test_manifest_over_the_size_cap(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = rg(project, "integrity", "generate", "--patterns", "**/*.py", "--manifest", "m.json")
    assert gen.returncode == 0, gen.stderr
    assert rg(project, "integrity", "verify", "--manifest", "m.json").returncode == 0
    monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", "0.0001")  # 104 bytes
    assert_clean_error(rg(project, "integrity", "verify", "--manifest", "m.json"),
                       "m.json: integrity manifest is", "over the 104 bytes cap (RELEASE_GATES_MAX_FILE_MB)")
    monkeypatch.setenv("RELEASE_GATES_MAX_FILE_MB", "lots")
    assert_clean_error(rg(project, "integrity", "verify", "--manifest", "m.json"), "RELEASE_GATES_MAX_FILE_MB='lots'")


def test_missing_manifest_and_root(project: Path) -> None:
    assert_clean_error(rg(project, "integrity", "verify"), "no integrity manifest", "generate")
    assert_clean_error(rg(project, "integrity", "verify", "--root", "nope"), "nope", "does not exist")
    assert_clean_error(rg(project, "integrity", "generate", "--root", "nope", "--patterns", "*"), "does not exist")
    assert_clean_error(rg(project, "integrity", "generate"), "no patterns")
    assert_clean_error(rg(project, "integrity", "generate", "--patterns", "../*.py"), "leave the root")


def test_relative_paths_are_relative_to_the_current_folder(project: Path, tmp_path_factory: pytest.TempPathFactory
                                                           ) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")
    root = os.path.relpath(project, elsewhere)
    gen = rg(elsewhere, "integrity", "generate", "--root", root, "--patterns", "*.py", "--manifest", "m/i.json")
    assert gen.returncode == 0, gen.stderr
    assert (elsewhere / "m" / "i.json").exists()
    assert rg(elsewhere, "integrity", "verify", "--root", root, "--manifest", "m/i.json").returncode == 0


def test_config_supplies_patterns_and_manifest(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.release_gates.integrity]\npatterns = ["src/**/*.py"]\nmanifest = "checks/files.json"\n')
    gen = rg(project, "integrity", "generate")
    assert gen.returncode == 0, gen.stderr
    assert sorted(json.loads((project / "checks" / "files.json").read_text())["files"]) == [
        "src/app.py", "src/pkg/util.py"]
    (project / "src" / "pkg" / "util.py").write_text("X = 2\n")
    out = rg(project, "integrity", "verify")
    assert out.returncode == 1 and "modified: src/pkg/util.py" in out.stdout
    (project / "pyproject.toml").write_text('[tool.release_gates.integrity]\nmanifest = "../outside.json"\n')
    assert_clean_error(rg(project, "integrity", "verify"), "pyproject.toml", "escapes the root")
    (project / "pyproject.toml").write_text('[tool.release_gates.integrity]\npaterns = ["*"]\n')
    assert_clean_error(rg(project, "integrity", "verify"), "pyproject.toml", "paterns")


def test_special_files_and_names(project: Path) -> None:
    names = ["with space.py", "ünï cødé.py", "new\nline.py", "tab\tname.py"]
    for n in names:
        (project / n).write_text(f"# {n!r}\n")
    os.mkfifo(project / "pipe.py")
    os.symlink("src/app.py", project / "alias.py")
    gen = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert gen.returncode == 0, gen.stderr
    assert "skipped pipe.py: FIFO skipped" in gen.stderr
    files = json.loads((project / MANIFEST).read_text())["files"]
    assert files["alias.py"] == {"link": "src/app.py"}
    assert all(n in files for n in names)
    (project / "new\nline.py").write_text("changed\n")
    out = rg(project, "integrity", "verify")
    assert out.returncode == 1
    assert 'modified: "new\\nline.py"' in out.stdout  # quoted, so one line per difference
    assert len(out.stdout.strip().splitlines()) == 2


def test_mode_change_is_reported(project: Path) -> None:
    os.chmod(project / "src" / "app.py", 0o644)
    assert rg(project, "integrity", "generate", "--patterns", "*.py").returncode == 0
    os.chmod(project / "src" / "app.py", 0o755)
    out = rg(project, "integrity", "verify")
    assert out.returncode == 1 and "mode changed: src/app.py (0644 -> 0755: executable bit added)" in out.stdout


def test_stat_cache_option(project: Path) -> None:
    assert rg(project, "integrity", "generate", "--patterns", "*.py").returncode == 0
    first = rg(project, "integrity", "verify", "--stat-cache")
    assert first.returncode == 0, first.stderr
    assert (project / ".release-gates" / "integrity.statcache.json").exists()
    (project / "src" / "app.py").write_text("print('tampered')\n")
    second = rg(project, "integrity", "verify", "--stat-cache")
    assert second.returncode == 1 and "modified: src/app.py" in second.stdout


def test_rules_on_the_command_line(project: Path) -> None:
    (project / "src" / "conf.py").write_text('HOME = "/home/alice/project"\nAPI_TOKEN = "Zx81kQp0aLm3Vn7TyR2wEe9s"\n')
    assert rg(project, "integrity", "generate", "--patterns", "*.py").returncode == 0
    out = rg(project, "integrity", "verify", "--rules", "hardcoded-paths", "secrets")
    assert out.returncode == 1
    assert "new finding: hardcoded-paths: src/conf.py:1: /home/alice/project" in out.stdout
    assert "new finding: secrets: src/conf.py:2:" in out.stdout
    assert "Zx81kQp0aLm3Vn7TyR2wEe9s" not in out.stdout + out.stderr
    assert rg(project, "integrity", "verify", "--rules").returncode == 0  # --rules alone: none
    bad = rg(project, "integrity", "verify", "--rules", "nope")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_malformed_baseline_section_is_an_input_error(project: Path) -> None:
    (project / "src" / "x.py").write_text("<<<<<<< HEAD\n")
    assert rg(project, "integrity", "generate", "--patterns", "*.py").returncode == 0
    baseline = project / "release-gates.baseline.json"
    content = json.dumps({"schema": "pytest-release-gates/baseline/1",
                          "integrity": {"findings": {"conflict-markers": {"src/x.py": {"abc": "many"}}}}})
    baseline.write_text(content)
    out = rg(project, "integrity", "verify", "--rules", "conflict-markers")
    assert_clean_error(out, "release-gates.baseline.json", "count must be a positive whole number")
    assert baseline.read_text() == content


def test_generate_writes_the_new_default_beside_an_old_one(project: Path) -> None:
    old = project / ".release-gates" / "integrity.json"
    assert rg(project, "integrity", "generate", "--patterns", "*.py", "--manifest", str(old)).returncode == 0
    (project / "src" / "app.py").write_text("print('v2')\n")
    gen = rg(project, "integrity", "generate", "--patterns", "*.py")
    assert gen.returncode == 0, gen.stderr
    assert (project / MANIFEST).is_file()
    assert "accepting 1 change(s) against the previous .release-gates/integrity.json" in gen.stdout  # the old one
    assert "no longer read" in gen.stderr
    ok = rg(project, "integrity", "verify")
    assert ok.returncode == 0 and "old default" not in ok.stderr  # the new file wins from now on
