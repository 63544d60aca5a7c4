#!/usr/bin/env python3
"""Compiles, links and runs every C++ block of a document marked `<!-- MARKER: NAME -->`, so the
docs never show code that does not build; each program must exit 0 (and, with --expect, print
TEXT). Blocks marked `<!-- readme-file: PATH -->` show a file of the repository verbatim (an
example that the tests build and run): they must equal it.

Usage: check_snippets.py DOC CXX INCLUDE LIB... [--flags "CXXFLAGS"] [--marker readme-snippet]
                         [--expect TEXT]"""
import os, re, subprocess, sys, tempfile


def option(args, name, default):
    if name in args:
        i = args.index(name)
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


args = sys.argv[1:]
flags = option(args, "--flags", "").split()
marker = option(args, "--marker", "readme-snippet")
expect = option(args, "--expect", None)
doc, cxx, include, *libs = args
text = open(doc, encoding="utf-8").read()

root = os.path.dirname(os.path.abspath(doc))
while not os.path.exists(os.path.join(root, "CMakeLists.txt")) and root != "/":
    root = os.path.dirname(root)
for path, code in re.findall(r"<!-- readme-file: (\S+) -->\s*```cpp\n(.*?)```", text, re.S):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        if f.read() != code:
            sys.exit(f"{doc}'s copy of {path} differs from the file; paste the file again")
    print(f"file {path}: the copy in {os.path.basename(doc)} is current")

snippets = re.findall(r"<!-- " + re.escape(marker) + r": (\S+) -->\s*```cpp\n(.*?)```", text, re.S)
if not snippets:
    sys.exit(f"no {marker} blocks found in {doc}")
with tempfile.TemporaryDirectory() as d:
    for name, code in snippets:
        src = os.path.join(d, name + ".cpp")
        exe = os.path.join(d, name)
        open(src, "w").write(code)
        subprocess.run([cxx, *flags, "-std=c++20", "-Wall", "-Wextra", "-Werror", "-I", include, src,
                        *libs, "-pthread", "-o", exe], check=True)
        run = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            sys.exit(f"snippet {name} exited {run.returncode}:\n{run.stdout}\n{run.stderr}")
        if expect is not None and expect not in run.stdout:
            sys.exit(f"snippet {name} did not print {expect!r}:\n{run.stdout}")
        print(f"snippet {name}: built and ran")
