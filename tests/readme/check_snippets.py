#!/usr/bin/env python3
"""Compiles, links and runs every C++ block of README.md marked `<!-- readme-snippet: NAME -->`,
so the README never shows code that does not build.
Usage: check_snippets.py README CXX INCLUDE LIB [CXXFLAGS] (flags as one string, e.g. sanitizers)"""
import os, re, subprocess, sys, tempfile

readme, cxx, include, lib = sys.argv[1:5]
extra = sys.argv[5].split() if len(sys.argv) > 5 else []
text = open(readme, encoding="utf-8").read()
# Blocks marked `<!-- readme-file: PATH -->` show a file of the repository verbatim (an example
# that the tests build and run): they must equal it.
root = os.path.dirname(os.path.abspath(readme))
for path, code in re.findall(r"<!-- readme-file: (\S+) -->\s*```cpp\n(.*?)```", text, re.S):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        if f.read() != code:
            sys.exit(f"README's copy of {path} differs from the file; paste the file again")
    print(f"file {path}: README copy is current")
snippets = re.findall(r"<!-- readme-snippet: (\S+) -->\s*```cpp\n(.*?)```", text, re.S)
if not snippets:
    sys.exit("no readme-snippet blocks found in " + readme)
with tempfile.TemporaryDirectory() as d:
    for name, code in snippets:
        src = os.path.join(d, name + ".cpp")
        exe = os.path.join(d, name)
        open(src, "w").write(code)
        subprocess.run([cxx, *extra, "-std=c++20", "-Wall", "-Wextra", "-Werror", "-I", include, src, lib,
                        "-pthread", "-o", exe], check=True)
        run = subprocess.run([exe], capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"snippet {name} exited {run.returncode}:\n{run.stderr}")
        out = run.stdout
        if "# TYPE" not in out:
            sys.exit(f"snippet {name} printed no exposition:\n{out}")
        print(f"snippet {name}: built and ran")
