"""The compiled build is used only while it matches the sources it was made from
(mysqlwire/native.py): an edited, missing or unlisted piece means the pure sources run."""

from __future__ import annotations

import importlib.machinery
import json
from pathlib import Path

import pytest

from mysqlwire import native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
SOURCES = {"pkg/hot.py": b"x = 1\n", "pkg/sub/loop.py": b"y = 2\n"}


@pytest.fixture
def build(tmp_path: Path) -> tuple[Path, Path]:
    """A project with two sources and a complete build of them (empty stand-ins for the
    compiled files: nothing here loads them)."""
    root, native_dir = tmp_path / "project", tmp_path / "project" / "build" / "native"
    for relative, text in SOURCES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(text)
        compiled = (native_dir / relative).with_suffix(SUFFIX)
        compiled.parent.mkdir(parents=True, exist_ok=True)
        compiled.write_bytes(b"")
    (native_dir / (native.GROUP_NAME + "__mypyc" + SUFFIX)).write_bytes(b"")
    manifest = {
        "abi": native.abi_tag(),
        "sources": {relative: native.source_digest(root / relative) for relative in SOURCES},
    }
    (native_dir / native.MANIFEST_NAME).write_text(json.dumps(manifest))
    return root, native_dir


def test_a_build_that_matches_every_source_is_used(build):
    root, native_dir = build
    modules, status = native.compiled_modules(root, native_dir, pure=False)
    assert status == "compiled with mypyc (2 modules)"
    assert modules["pkg.hot"] == native_dir / ("pkg/hot" + SUFFIX)
    assert modules["pkg.sub.loop"] == native_dir / ("pkg/sub/loop" + SUFFIX)
    assert native.GROUP_NAME + "__mypyc" in modules


def test_an_edited_source_makes_the_whole_build_unused(build):
    root, native_dir = build
    (root / "pkg/sub/loop.py").write_bytes(b"y = 3\n")
    modules, status = native.compiled_modules(root, native_dir, pure=False)
    assert modules == {}
    assert status == "pure Python (the compiled build is out of date for pkg/sub/loop.py)"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("remove the manifest", "no compiled build: scripts/setup makes one"),
        ("garble the manifest", "the compiled build's manifest is unreadable"),
        ("another python", "the compiled build is for another Python"),
        ("remove a source", "the compiled build is out of date for pkg/hot.py"),
        ("remove a compiled module", "the compiled build is out of date for pkg/hot.py"),
        ("remove the shared library", "the compiled build is incomplete"),
    ],
)
def test_a_build_that_is_not_whole_is_not_used(build, damage, reason):
    root, native_dir = build
    manifest = native_dir / native.MANIFEST_NAME
    if damage == "remove the manifest":
        manifest.unlink()
    elif damage == "garble the manifest":
        manifest.write_text("{not json")
    elif damage == "another python":
        manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "abi": "cpython-99"}))
    elif damage == "remove a source":
        (root / "pkg/hot.py").unlink()
    elif damage == "remove a compiled module":
        (native_dir / ("pkg/hot" + SUFFIX)).unlink()
    else:
        (native_dir / (native.GROUP_NAME + "__mypyc" + SUFFIX)).unlink()
    assert native.compiled_modules(root, native_dir, pure=False) == ({}, f"pure Python ({reason})")


def test_asking_for_pure_python_wins_over_a_good_build(build):
    root, native_dir = build
    assert native.compiled_modules(root, native_dir, pure=True) == (
        {},
        "pure Python (MYSQLWIRE_PURE is set)",
    )


def test_the_modules_loaded_are_the_build_the_status_names():
    import capture.readers
    import capture.tracker
    import mysqlwire.protocol.fast_lane

    hot = [Path(capture.tracker.__file__), Path(mysqlwire.protocol.fast_lane.__file__)]
    if native.COMPILED:
        assert all(path.is_relative_to(native.NATIVE_DIR) for path in hot)
        assert all(path.name.endswith(SUFFIX) for path in hot)
    else:
        assert all(path.suffix == ".py" for path in hot)
    assert Path(capture.readers.__file__).suffix == ".py"  # never compiled
