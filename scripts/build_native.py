"""Compile mysqlwire's per-packet modules with mypyc into build/native/.

The compiled build is the same source, not a second implementation: mypyc turns the
type-annotated modules below into C extensions, which run the analysis about twice as fast
(docs/performance.md). They go to `build/native/`, beside the sources rather than over them,
with a manifest of the sources' hashes; `mysqlwire/native.py` uses them only while every
source still matches, so an edited checkout runs its edited code until this script runs again.

    .venv/bin/python scripts/build_native.py          # build, unless the build is current
    .venv/bin/python scripts/build_native.py --force  # build anyway
    MYSQLWIRE_PURE=1 ...                              # run without the compiled build

`scripts/setup` runs it. A failed build leaves no manifest, so the pure-Python code runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mysqlwire.native import (  # noqa: E402 - the project root must be on the path first
    GROUP_NAME,
    MANIFEST_NAME,
    NATIVE_DIR,
    abi_tag,
    compiled_modules,
    module_name,
    source_digest,
)

# What gets compiled: the modules every packet, chunk or exchange passes through, and the
# ones they call or construct objects from (a call into an interpreted module loses most of
# the gain; an interpreted class cannot subclass a compiled one, hence live.py), and the jsonl
# records (once per connection, but a share of the time on captures of many short
# connections). Left out: the package `__init__`s (they run before the build is found), the
# other output formats and the CLI (once per run), and the readers' file handling: compiled,
# a Ctrl-C during a read of standard input ended the input quietly instead of interrupting it
# (the test suite's Ctrl-C test), and it runs once per 1 MiB read, so leaving it out costs
# nothing.
COMPILED_PACKAGES = ("capture", "mysqlwire/protocol", "mysqlwire/report")
COMPILED_FILES = (
    "mysqlwire/pipeline.py",
    "mysqlwire/live.py",
    "mysqlwire/output/schema.py",
    "mysqlwire/output/records.py",
)
LEFT_OUT = {"capture/readers.py"}


def compiled_sources() -> list[str]:
    """The sources to compile, as paths relative to the project root."""
    sources = list(COMPILED_FILES)
    for package in COMPILED_PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if path.name != "__init__.py" and relative not in LEFT_OUT:
                sources.append(relative)
    return sources


def current(sources: list[str]) -> bool:
    """The build on disk is usable (the loader's own check) and made from exactly these."""
    modules, _status = compiled_modules(ROOT, NATIVE_DIR, pure=False)
    return set(modules) - {GROUP_NAME + "__mypyc"} == {module_name(each) for each in sources}


def build(sources: list[str]) -> None:
    from mypyc.build import mypycify
    from setuptools import Distribution

    generated = ROOT / "build" / "native-c"
    temp = ROOT / "build" / "native-temp"
    for stale in (NATIVE_DIR, generated):
        shutil.rmtree(stale, ignore_errors=True)
    os.chdir(ROOT)  # mypyc names the modules by their paths from here
    extensions = mypycify(
        sources,
        opt_level="3",
        group_name=GROUP_NAME,
        target_dir=str(generated),
        multi_file=True,  # several C files, compiled in parallel
    )
    distribution = Distribution({"name": "mysqlwire-native", "ext_modules": extensions})
    command = distribution.get_command_obj("build_ext")
    command.build_lib = str(NATIVE_DIR)
    command.build_temp = str(temp)
    command.parallel = os.cpu_count() or 1
    distribution.run_command("build_ext")
    # Written last: without it (a failed or interrupted build) nothing here is used.
    manifest = {
        "abi": abi_tag(),
        "sources": {relative: source_digest(ROOT / relative) for relative in sources},
    }
    (NATIVE_DIR / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even if the build is current")
    args = parser.parse_args()
    sources = compiled_sources()
    if not args.force and current(sources):
        print(f"build_native: {NATIVE_DIR.relative_to(ROOT)} is current", file=sys.stderr)
        return 0
    print(f"build_native: compiling {len(sources)} modules with mypyc", file=sys.stderr)
    build(sources)
    print(f"build_native: built {NATIVE_DIR.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
