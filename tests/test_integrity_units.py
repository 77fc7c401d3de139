"""Integrity internals: pattern semantics, manifest validation, content rules, and Hypothesis properties."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_release_gates.gates.integrity import manifest as mf
from pytest_release_gates.gates.integrity import rules
from pytest_release_gates.gates.integrity.hashing import StatCache
from pytest_release_gates.gates.integrity.patterns import PatternSet, walk
from pytest_release_gates.model import UsageError

TREE = [
    "top.py", "setup.cfg", "src/app.py", "src/pkg/deep.py", "src/pkg/data.json", "docs/guide.md",
    "tests/test_app.py", "build/out.py", "a b/ü n.py",
]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in TREE:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"# {rel}\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(("patterns", "expected"), [
    # no "/": a name at any depth
    (["*.py"], ["a b/ü n.py", "build/out.py", "src/app.py", "src/pkg/deep.py", "tests/test_app.py", "top.py"]),
    # with "/": anchored at the root, "*" does not cross "/"
    (["src/*.py"], ["src/app.py"]),
    # "**" crosses any number of folders (including none)
    (["src/**/*.py"], ["src/app.py", "src/pkg/deep.py"]),
    (["**/deep.py"], ["src/pkg/deep.py"]),
    (["src/**"], ["src/app.py", "src/pkg/data.json", "src/pkg/deep.py"]),
    # a leading "/" only anchors
    (["/top.py"], ["top.py"]),
    (["/*.py"], ["top.py"]),
    # a folder name selects what is inside it; trailing "/" means folders only
    (["docs"], ["docs/guide.md"]),
    (["pkg/"], ["src/pkg/data.json", "src/pkg/deep.py"]),
    # "?" and classes never cross "/"
    (["t?p.py"], ["top.py"]),
    (["[st]*.py"], ["tests/test_app.py", "top.py"]),
    (["src?app.py"], []),
    # negation: the last match wins, per path, as in git ("!tests/" un-selects the folder, not "*.py" files in it)
    (["*.py", "!tests/**"], ["a b/ü n.py", "build/out.py", "src/app.py", "src/pkg/deep.py", "top.py"]),
    (["src/", "!*.json"], ["src/app.py", "src/pkg/deep.py"]),
    (["*.py", "!deep.py"], ["a b/ü n.py", "build/out.py", "src/app.py", "tests/test_app.py", "top.py"]),
    # spaces and unicode are plain characters
    (["ü n.py"], ["a b/ü n.py"]),
    (["*.nothing"], []),
])
def test_pattern_semantics(tree: Path, patterns: list[str], expected: list[str]) -> None:
    assert walk(str(tree), PatternSet(patterns)).files == expected


def test_excludes_prune_and_auto_excludes(tree: Path) -> None:
    for auto in (".git/x.py", "__pycache__/c.py", ".release-gates/integrity.py", ".venv/lib.py", "src/.tox/t.py"):
        (tree / auto).parent.mkdir(parents=True, exist_ok=True)
        (tree / auto).write_text("x\n")
    got = walk(str(tree), PatternSet(["*.py"]), PatternSet(["build/", "a b"]), exclude_paths=["top.py"]).files
    assert got == ["src/app.py", "src/pkg/deep.py", "tests/test_app.py"]


@pytest.mark.parametrize("bad", ["", "!", "/", "../x.py", "src/../../x"])
def test_bad_patterns_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        PatternSet([bad])


def test_symlinks_recorded_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "real.py").write_text("y = 2\n")
    os.symlink(outside, root / "linked_dir")
    os.symlink("real.py", root / "alias.py")
    os.mkfifo(root / "pipe.py")
    out = mf.build(str(root), ["*.py"])
    assert out.manifest is not None
    assert sorted(out.manifest.files) == ["alias.py", "real.py"]
    assert out.manifest.files["alias.py"].link == "real.py"
    assert out.listing.skipped == [("pipe.py", "FIFO skipped")]
    os.unlink(root / "alias.py")
    os.symlink("elsewhere.py", root / "alias.py")
    diffs = mf.verify(str(root), out.manifest).differences
    assert [(d.kind, d.path) for d in diffs] == [("modified", "alias.py")]
    assert "link target" in diffs[0].detail


@pytest.mark.parametrize("path", ["/etc/passwd", "../up.py", "a/../../b", "C:\\x", "a//b", "./a", "a\x00b"])
def test_manifest_with_escaping_path_is_refused(tmp_path: Path, path: str) -> None:
    m = mf.Manifest(("*",), (), {"ok.py": mf.Entry("0" * 64, 1, 0o644)})
    doc = m.to_json()
    doc["files"][path] = {"sha256": "0" * 64, "size": 1, "mode": "0644"}
    target = tmp_path / "m.json"
    target.write_text(mf.atomic.dumps(doc))
    with pytest.raises(UsageError, match="unsafe path"):
        mf.load(target)


def test_mode_changes_reported_only_when_widening(tmp_path: Path) -> None:
    for name in ("a.sh", "b.txt", "c.txt"):
        (tmp_path / name).write_text("x\n")
        os.chmod(tmp_path / name, 0o644)
    m = mf.build(str(tmp_path), ["*"]).manifest
    assert m is not None
    os.chmod(tmp_path / "a.sh", 0o755)
    os.chmod(tmp_path / "b.txt", 0o666)
    os.chmod(tmp_path / "c.txt", 0o600)  # narrower: umask noise, not reported
    diffs = [(d.kind, d.path) for d in mf.verify(str(tmp_path), m).differences]
    assert diffs == [("mode changed", "a.sh"), ("mode changed", "b.txt")]


def test_file_changing_while_hashed_is_detected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_release_gates.gates.integrity import hashing

    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * (3 << 20))
    real_readv = os.readv
    calls = {"n": 0}

    def growing_readv(fd: int, buffers: list[bytearray]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            with open(big, "ab") as fh:
                fh.write(b"more")
        return real_readv(fd, buffers)

    monkeypatch.setattr(hashing, "_READV", growing_readv)
    state = hashing.hash_one(str(big))
    assert state.changed


def test_unreadable_file_is_a_difference_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_release_gates.gates.integrity import hashing

    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("y")
    m = mf.build(str(tmp_path), ["*"]).manifest
    assert m is not None
    real_open = os.open

    def deny(path: str, flags: int, *args: int) -> int:
        if str(path).endswith("a.txt"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(hashing.os, "open", deny)
    diffs = mf.verify(str(tmp_path), m).differences
    assert [(d.kind, d.path, d.detail) for d in diffs] == [("unreadable", "a.txt", "Permission denied")]


def test_stat_cache_trusts_only_old_entries_and_sees_changes(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    for i in range(5):
        (root / f"f{i}.txt").write_text(f"{i}\n")
    old = 1_600_000_000_000_000_000
    for p in root.iterdir():
        os.utime(p, ns=(old, old))
    manifest_path = tmp_path / "m.json"
    mf.write(manifest_path, mf.build(str(root), ["*"]).manifest)  # type: ignore[arg-type]
    cache_path = tmp_path / "cache.json"
    first = StatCache.load(cache_path, str(root))
    assert not mf.verify_cached(str(root), manifest_path, first).differences
    first.save()
    # ctime is "now" for every file, so nothing is trusted until a scan starts 2 s after it:
    # force that by back-dating the recorded scan start.
    again = StatCache.load(cache_path, str(root))
    again.started_ns += 10**10
    assert not mf.verify_cached(str(root), manifest_path, again).differences
    assert again.hits == 0
    again.started_ns = 2**62  # now every entry is old enough
    mf.verify_cached(str(root), manifest_path, again)
    again.save()
    third = StatCache.load(cache_path, str(root))
    assert not mf.verify_cached(str(root), manifest_path, third).differences
    assert third.hits == 5  # answered from stat calls alone
    # Same size, mtime put back: ctime still moves, so the change is seen.
    (root / "f3.txt").write_text("X\n")
    os.utime(root / "f3.txt", ns=(old, old))
    fourth = StatCache.load(cache_path, str(root))
    diffs = mf.verify_cached(str(root), manifest_path, fourth).differences
    assert [(d.kind, d.path) for d in diffs] == [("modified", "f3.txt")]


# ------------------------------------------------------------------ content rules


def _scan(text: str, *names: str) -> list[rules.Finding]:
    return rules.scan_text("f.py", text, names or rules.TEXT_RULES)


def test_duplicate_lines_rule() -> None:
    block = "a = 1\nb = 2\nc = 3\n"
    found = _scan("x\n" + block + block + "y\n", "duplicate-lines")
    assert [(f.rule, f.line) for f in found] == [("duplicate-lines", 5)]
    assert not _scan("x\n" + block + "z\n" + block, "duplicate-lines")  # not immediately after itself
    assert not _scan("a\nb\na\nb\n", "duplicate-lines")  # 2-line block: below the threshold
    assert not _scan("\n\n\n\n\n\n\n", "duplicate-lines")  # all blank
    pragma = "a = 1  # release-gates: allow[duplicate-lines]\nb = 2\nc = 3\n"
    assert not _scan(pragma + pragma, "duplicate-lines")


def test_hardcoded_paths_rule() -> None:
    text = ('p = "/home/alice/data.csv"\nq = "/Users/bob/x"\nr = r"C:\\Users\\carol\\y"\n'
            's = "https://example.com/home/page/"\nt = os.path.expanduser("~/x")\n'
            'u = "/home/dave/z"  # release-gates: allow[hardcoded-paths]\n')
    found = _scan(text, "hardcoded-paths")
    assert [f.preview for f in found] == ["/home/alice/data.csv", "/Users/bob/x", "C:\\Users\\carol\\y"]


def test_conflict_markers_rule() -> None:
    text = "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> feature\nTitle\n=======\n"
    assert [f.line for f in _scan(text, "conflict-markers")] == [2, 6]


SECRET = "Zx81kQp0aLm3Vn7TyR2wEe9s"


def test_secrets_rule_masks_values() -> None:
    text = (f'API_TOKEN = "{SECRET}"\nkey = "AKIAIOSFODNN7EXAMPL3"\n-----BEGIN OPENSSH PRIVATE KEY-----\n'
            'password = "changeme-please-now"\ntoken = os.environ["TOKEN_VALUE_FROM_ENV"]\n'
            f'ok = "{SECRET}"  # not a secret-like name\n')
    found = _scan(text, "secrets")
    assert sorted(f.line for f in found) == [1, 2, 3]
    for f in found:
        assert SECRET not in f.preview and "AKIAIOSFODNN7EXAMPL3" not in f.preview
    assert not _scan(f'API_TOKEN = "{SECRET}"  # release-gates: allow[secrets]\n', "secrets")


def test_binary_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "nul.txt").write_bytes(b"<<<<<<< HEAD\n\x00\n")
    (tmp_path / "latin1.txt").write_bytes(b"<<<<<<< HEAD\n\xe9\n")
    (tmp_path / "ok.txt").write_bytes(b"<<<<<<< HEAD\n")
    res = rules.scan_tree(str(tmp_path), ["latin1.txt", "nul.txt", "ok.txt"], ["conflict-markers"])
    assert res.binary == ["latin1.txt", "nul.txt"]
    assert [f.path for f in res.findings] == ["ok.txt"]


def test_permissions_rule(tmp_path: Path) -> None:
    (tmp_path / "script.sh").write_text("#!/bin/sh\necho\n")
    (tmp_path / "noshebang.py").write_text("print()\n")
    (tmp_path / "shared.txt").write_text("x\n")
    os.chmod(tmp_path / "script.sh", 0o755)
    os.chmod(tmp_path / "noshebang.py", 0o755)
    os.chmod(tmp_path / "shared.txt", 0o664)
    res = rules.scan_tree(str(tmp_path), ["noshebang.py", "script.sh", "shared.txt"], ["permissions"])
    assert sorted((f.path, f.preview.split(" (")[0]) for f in res.findings) == [
        ("noshebang.py", "executable but has no #! line"), ("shared.txt", "group-writable")]


def test_counts_and_baseline_comparison() -> None:
    one = rules.scan_text("f.py", "<<<<<<< HEAD\n", ["conflict-markers"])
    two = rules.scan_text("f.py", "<<<<<<< HEAD\nx\n<<<<<<< HEAD\n", ["conflict-markers"])
    accepted = rules.ScanResult(one).counts()
    now = rules.ScanResult(two).counts()
    new, stale = rules.compare_counts(now, accepted)
    assert [(k[0], n, was) for k, n, was in new] == [("conflict-markers", 2, 1)]
    assert not stale
    section = rules.to_section(accepted)
    assert rules.from_section({"findings": section}) == accepted
    new, stale = rules.compare_counts({}, accepted)
    assert not new and len(stale) == 1


# ------------------------------------------------------------------ Hypothesis properties

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
                min_size=1, max_size=12).filter(lambda s: s not in (".", "..", ".DS_Store")
                                                and not s.startswith(".git"))
contents = st.binary(max_size=300)
trees = st.dictionaries(names, contents, min_size=1, max_size=6)
fast = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).write_bytes(data)


@fast
@given(trees)
def test_generate_then_verify_is_clean(files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), files)
        out = mf.build(d, ["*"])
        assert out.manifest is not None and len(out.manifest.files) == len(files)
        assert mf.verify(d, out.manifest).differences == []


@fast
@given(trees, st.data())
def test_any_single_byte_change_is_detected(files: dict[str, bytes], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), files)
        m = mf.build(d, ["*"]).manifest
        assert m is not None
        name = data.draw(st.sampled_from(sorted(files)))
        content = bytearray(files[name])
        if content:
            i = data.draw(st.integers(0, len(content) - 1))
            content[i] = (content[i] + data.draw(st.integers(1, 255))) % 256
        else:
            content = bytearray(b"x")
        (Path(d) / name).write_bytes(bytes(content))
        diffs = mf.verify(d, m).differences
        assert [(x.kind, x.path) for x in diffs] == [("modified", name)]


@fast
@given(trees, names, contents, st.booleans())
def test_adding_or_removing_a_file_is_detected(files: dict[str, bytes], extra: str, data: bytes,
                                                remove: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        _write(Path(d), files)
        m = mf.build(d, ["*"]).manifest
        assert m is not None
        if remove:
            victim = sorted(files)[0]
            (Path(d) / victim).unlink()
            expected = [("removed", victim)]
        else:
            if extra in files:
                return
            (Path(d) / extra).write_bytes(data)
            expected = [("added", extra)]
        assert [(x.kind, x.path) for x in mf.verify(d, m).differences] == expected


lines = st.lists(st.text(alphabet="abcdefgh =()\t", max_size=12), max_size=8)


@settings(max_examples=80, deadline=None)
@given(lines, lines)
def test_finding_keys_do_not_change_when_lines_are_inserted_above(prefix: list[str], body: list[str]) -> None:
    findings_text = "\n".join([*body, "<<<<<<< HEAD", 'p = "/home/alice/x"', f'token = "{SECRET}"',
                               "u = 1", "v = 2", "w = 3", "u = 1", "v = 2", "w = 3"])
    before = rules.ScanResult(rules.scan_text("f.py", findings_text, rules.TEXT_RULES)).counts()
    after = rules.ScanResult(rules.scan_text("f.py", "\n".join(prefix) + "\n" + findings_text,
                                             rules.TEXT_RULES)).counts()
    for key in before:
        assert after[key] >= before[key]
    assert {k[0] for k in before} >= {"conflict-markers", "hardcoded-paths", "secrets", "duplicate-lines"}


@pytest.mark.parametrize(("patterns", "expected", "not_entered"), [
    (["src/*.py"], ["src/app.py"], {"docs", "tests", "build", "a b", "src/pkg"}),
    (["src/pkg/deep.py"], ["src/pkg/deep.py"], {"docs", "tests", "build", "a b"}),
    (["*/app.py", "*/test_app.py"], ["src/app.py", "tests/test_app.py"], {"src/pkg"}),
    (["**/deep.py"], ["src/pkg/deep.py"], set()),
    (["src/**/*.json"], ["src/pkg/data.json"], {"docs", "tests", "build", "a b"}),
])
def test_anchored_patterns_skip_folders_they_cannot_reach(tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                          patterns: list[str], expected: list[str],
                                                          not_entered: set[str]) -> None:
    from pytest_release_gates.gates.integrity import patterns as patterns_mod

    entered: list[str] = []
    real = os.scandir

    def spy(path: str) -> object:
        entered.append(os.path.relpath(path, tree).replace(os.sep, "/"))
        return real(path)

    monkeypatch.setattr(patterns_mod.os, "scandir", spy)
    assert walk(str(tree), PatternSet(patterns)).files == expected
    assert not not_entered & set(entered)
