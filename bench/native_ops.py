"""Where the compiled build still works on Python objects: generic operations per function.

    .venv/bin/python bench/native_ops.py                 # the 25 functions with the most
    .venv/bin/python bench/native_ops.py feed _records   # these functions, line by line

mypyc compiles an operation to machine code only when it knows the types: `flags & ACK` on two
`int`s is a C `&`, but on a value typed `Any` (what `struct.unpack` returns, an attribute
declared `Any`) it is `PyNumber_And` on objects, and a call through a bound method kept in a
local is a Python call. The source reads the same either way; this script finds the
difference in the C that `scripts/build_native.py` generated (`build/native-c/`): each call of
a generic C API function (arithmetic, comparison, truth, item and attribute access by name,
calls by the Python protocol, float boxing), attributed to the source line of the error
handler that follows it. A hot function with many is worth a look; many are legitimate
(a call into an interpreted module, a float handed to Python code). Prints counts only.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ROOT / "build" / "native-c"

GENERIC = re.compile(
    r"\b(PyNumber_\w+|PyObject_RichCompare(?:Bool)?|PyObject_IsTrue|PyObject_GetItem"
    r"|PyObject_SetItem|PySlice_New|CPyObject_GetAttr|PyObject_GetAttr|PyFloat_FromDouble"
    r"|PyObject_Vectorcall(?:Method)?|PyObject_Call\w*|PyObject_GetIter|PyIter_Next"
    r"|PySequence_\w+)\("
)
TRACEBACK = re.compile(r'CPy_AddTraceback\("([^"]+)", "([^"]+)", (\d+)')


def generic_operations() -> Counter[tuple[str, str, int, str]]:
    """(source file, function, line, C function) -> how many calls the generated C has."""
    found: Counter[tuple[str, str, int, str]] = Counter()
    for path in sorted(GENERATED.glob("*.c")):
        text = path.read_text()
        for call in GENERIC.finditer(text):
            where = TRACEBACK.search(text, call.end())
            if where is not None:
                source, function, line = where.group(1), where.group(2), int(where.group(3))
                found[(source, function, line, call.group(1))] += 1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", help="show these functions line by line")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if not GENERATED.is_dir():
        print(f"native_ops: no generated C in {GENERATED}: run scripts/build_native.py")
        return 1
    found = generic_operations()
    if args.functions:
        wanted = set(args.functions)
        for (source, function, line, operation), count in sorted(found.items()):
            if function in wanted:
                print(f"{source}:{line}  {function}  {operation} x{count}")
        return 0
    per_function: Counter[tuple[str, str]] = Counter()
    for (source, function, _line, _operation), count in found.items():
        if function != "<module>":  # module level runs once, at import
            per_function[(source, function)] += count
    print(f"{'generic ops':>11}  function")
    for (source, function), count in per_function.most_common(args.top):
        print(f"{count:>11}  {source} {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
