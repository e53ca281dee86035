"""Whether this process runs the compiled build of the hot modules, and the import hook for it.

`scripts/build_native.py` compiles the per-packet modules (the capture layer, the decoder,
the reports) with mypyc into `build/native/`, from the same sources, and writes a manifest
of those sources' hashes last. The build sits beside the sources, not over them, so it can
never shadow an edit: at the first import of `capture` or `mysqlwire` this module checks the
manifest against the sources, and only when every one matches, for this interpreter, does it
put a finder in front of the import system that loads those modules from the build. Anything
else (no build, an edited source, another Python, `MYSQLWIRE_PURE=1`) runs the pure-Python
modules, which are the reference: the test suite runs on both (`scripts/test`).

`STATUS` says which it is (`COMPILED` in short), for `mysqlwire --version` and the benchmarks.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
NATIVE_DIR = ROOT / "build" / "native"
MANIFEST_NAME = "manifest.json"
GROUP_NAME = "mysqlwire_native"  # mypyc's shared library: <GROUP_NAME>__mypyc
PURE_ENV = "MYSQLWIRE_PURE"


def abi_tag() -> str:
    """What a compiled module must match to load: the interpreter and its ABI."""
    return f"{sys.implementation.cache_tag}-{importlib.machinery.EXTENSION_SUFFIXES[0]}"


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def module_name(relative: str) -> str:
    """The module a source path (relative to the project root) holds."""
    return relative.removesuffix(".py").replace("/", ".")


class CompiledFinder:
    """Finds the compiled modules of the build (a meta path finder, ahead of the others)."""

    def __init__(self, modules: dict[str, Path]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        compiled = self.modules.get(fullname)
        if compiled is None:
            return None
        return importlib.util.spec_from_file_location(fullname, compiled)


def compiled_modules(root: Path, native_dir: Path, pure: bool) -> tuple[dict[str, Path], str]:
    """The compiled module of each source the manifest in `native_dir` lists (sources under
    `root`), or why the build is not to be used."""
    if pure:
        return {}, f"pure Python ({PURE_ENV} is set)"
    try:
        manifest = json.loads((native_dir / MANIFEST_NAME).read_text())
        sources: dict[str, str] = manifest["sources"]
    except FileNotFoundError:
        return {}, "pure Python (no compiled build: scripts/setup makes one)"
    except (OSError, ValueError, KeyError, TypeError):
        return {}, "pure Python (the compiled build's manifest is unreadable)"
    if manifest.get("abi") != abi_tag():
        return {}, "pure Python (the compiled build is for another Python)"
    modules: dict[str, Path] = {}
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for relative, digest in sources.items():
        try:
            changed = source_digest(root / relative) != digest
        except OSError:
            changed = True
        compiled = (native_dir / relative).with_suffix(suffix)
        if changed or not compiled.is_file():
            return {}, f"pure Python (the compiled build is out of date for {relative})"
        modules[module_name(relative)] = compiled
    # The code itself, which every compiled module loads (found here, not on sys.path,
    # whose folders under build/native would pass for namespace packages).
    shared = GROUP_NAME + "__mypyc"
    modules[shared] = native_dir / (shared + suffix)
    if not modules[shared].is_file():
        return {}, "pure Python (the compiled build is incomplete)"
    return modules, f"compiled with mypyc ({len(sources)} modules)"


def _install() -> str:
    modules, status = compiled_modules(ROOT, NATIVE_DIR, bool(os.environ.get(PURE_ENV)))
    if modules and not any(isinstance(finder, CompiledFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, CompiledFinder(modules))  # type: ignore[arg-type]
    return status


STATUS = _install()
COMPILED = STATUS.startswith("compiled")
