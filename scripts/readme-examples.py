#!/usr/bin/env python3
"""Write the README's Kotlin example where the JVM test build compiles it.

    scripts/readme-examples.py kotlin OUT.kt

The example is copied verbatim under a package of its own, so a call the SDK no longer has, or
whose arguments changed, fails `make test-bindings`. (The Rust block is a doctest of `cargo
test`; the Python block is checked by bindings/python/tests/test_readme.py; Swift has no
toolchain in CI.)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def blocks(language):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```" + language + r"[^\n]*\n(.*?)^```$", text, re.S | re.M)


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "kotlin":
        sys.exit("usage: readme-examples.py kotlin OUT.kt")
    found = blocks("kotlin")
    if not found:
        sys.exit("readme-examples: the README has no Kotlin example")
    out = pathlib.Path(sys.argv[2])
    out.parent.mkdir(parents=True, exist_ok=True)
    header = "// Generated from README.md by scripts/readme-examples.py: edit the README.\n"
    out.write_text(header + "package readme\n\n" + "\n".join(found), encoding="utf-8")


if __name__ == "__main__":
    main()
