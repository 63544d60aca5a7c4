#!/usr/bin/python3
"""Compiles, links and runs every C++ block of docs/controller.md marked
`<!-- controller-snippet: NAME -->`; each program must exit 0.
Usage: controller_docs_snippets.py DOC CXX INCLUDE LIB... [--flags "CXXFLAGS"]"""
import os, re, subprocess, sys, tempfile

args = sys.argv[1:]
flags = []
if "--flags" in args:
    i = args.index("--flags")
    flags = args[i + 1].split()
    args = args[:i] + args[i + 2:]
doc, cxx, include, *libs = args
text = open(doc, encoding="utf-8").read()
snippets = re.findall(r"<!-- controller-snippet: (\S+) -->\s*```cpp\n(.*?)```", text, re.S)
if not snippets:
    sys.exit("no controller-snippet blocks found in " + doc)
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
        print(f"snippet {name}: built and ran")
