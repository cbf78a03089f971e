#!/usr/bin/env python3
# test-man.py - the man pages render, and say what the program does
#
# grainvm(1): every command `grainvm --help` lists (and every subcommand a
# command's own --help lists under "Commands:") has a subsection
# "grainvm COMMAND [SUB]" whose option entries are exactly the options of
# `grainvm COMMAND [SUB] --help`; and no subsection names a command that
# does not exist.  Data-driven: a new command needs only its man section.
#
# grainvm.conf(5): every key docs/spec.md documents (test-spec checks
# docs/spec.md against the schema) has an entry under its group's
# subsection, and nothing else does.
import os
import re
import subprocess
import sys

SRC = os.environ.get("GV_SOURCE_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
GRAINVM = os.environ.get("GRAINVM") or os.path.join(os.environ.get("GV_BUILD_ROOT", "build"), "launcher/grainvm")
failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print(f"ok - {what}")
    else:
        failures += 1
        print(f"not ok - {what}\n    {detail}")


def render(page):
    """The page as man(1) shows it, plain text; groff's warnings must be none."""
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env)
    check(r.returncode == 0 and r.stdout.strip(), f"man -l {os.path.relpath(page, SRC)} renders", r.stderr)
    check(r.stderr == "", f"{os.path.basename(page)}: no groff warnings", r.stderr)
    # groff may print '-' as a hyphen or minus sign in UTF-8.
    return r.stdout.replace("\u2010", "-").replace("\u2212", "-")


def run_help(*args):
    r = subprocess.run([GRAINVM, *args, "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        check(False, f"grainvm {' '.join(args)} --help exits 0", r.stderr)
    return r.stdout


def commands_in(help_text):
    m = re.search(r"^Commands:\n((?:  \S.*\n)+)", help_text, re.M)
    return [l.split()[0] for l in m.group(1).splitlines()] if m else []


def options_in(help_text):
    opts = set()
    for line in help_text.splitlines():
        m = re.match(r"^\s+((?:-[A-Za-z], )?--[A-Za-z0-9-]+)", line)
        if m:
            opts |= set(re.findall(r"--?[A-Za-z0-9][A-Za-z0-9-]*", m.group(1)))
    return opts - {"-h", "--help"}


# ---- grainvm(1) ------------------------------------------------------------------
text = render(os.path.join(SRC, "packaging/man/grainvm.1"))
sections = {}   # "up", "image create" -> set of options
current = None
for line in text.splitlines():
    m = re.match(r"^   grainvm((?: [a-z][a-z0-9_-]*)+)", line)
    if m:
        current = m.group(1).strip()
        sections[current] = set()
        continue
    if re.match(r"^\S", line):          # a new .SH section
        current = None
        continue
    m = re.match(r"^ {7}((?:--?[A-Za-z0-9][A-Za-z0-9-]*(?:=\S+?)?(?:, )?)+)(?:\s|$)", line)
    if current and m:
        sections[current] |= set(re.findall(r"(?<![\w-])--?[A-Za-z0-9][A-Za-z0-9-]*", m.group(1)))

top = run_help()
commands = commands_in(top)
check(len(commands) >= 11, f"grainvm --help lists {len(commands)} commands", top)
expected = {}
for cmd in commands:
    h = run_help(cmd)
    subs = commands_in(h)
    if subs:
        for sub in subs:
            expected[f"{cmd} {sub}"] = options_in(run_help(cmd, sub))
    else:
        expected[cmd] = options_in(h)

for name, opts in sorted(expected.items()):
    if name not in sections:
        check(False, f"grainvm(1) has a section for `grainvm {name}`", f"sections: {sorted(sections)}")
        continue
    got = sections[name]
    check(got == opts, f"grainvm(1) `grainvm {name}`: options match --help ({', '.join(sorted(opts)) or 'none'})",
          f"only in --help: {sorted(opts - got)}; only in the man page: {sorted(got - opts)}")
for name in sorted(set(sections) - set(expected)):
    check(False, f"grainvm(1) section `grainvm {name}` names an existing command", "not in grainvm --help")

# ---- grainvm.conf(5) -----------------------------------------------------------------
text5 = render(os.path.join(SRC, "packaging/man/grainvm.conf.5"))
man_keys = {}
group = None
for line in text5.splitlines():
    m = re.match(r"^   (\[[a-z][a-z-]*(?: NAME)?\])\s*$", line)
    if m:
        group = m.group(1)
        man_keys[group] = set()
        continue
    if re.match(r"^\S", line):
        group = None
        continue
    m = re.match(r"^ {7}([a-z][a-z-]*)=", line)
    if group and m:
        man_keys[group].add(m.group(1))

with open(os.path.join(SRC, "docs/spec.md")) as f:
    spec_md = f.read()
doc_keys = {}
for m in re.finditer(r"^## (\[[a-z][a-z-]*(?: NAME)?\])\n(.*?)(?=^## |\Z)", spec_md, re.M | re.S):
    doc_keys[m.group(1)] = set(re.findall(r"^\| `([a-z-]+)` \|", m.group(2), re.M))
check(len(doc_keys) >= 6, f"docs/spec.md has {len(doc_keys)} groups", sorted(doc_keys))
for g, keys in sorted(doc_keys.items()):
    got = man_keys.get(g)
    check(got == keys, f"grainvm.conf(5) {g}: the keys of docs/spec.md ({', '.join(sorted(keys))})",
          f"man page: {sorted(got) if got is not None else 'no such section'}")
for g in sorted(set(man_keys) - set(doc_keys)):
    check(False, f"grainvm.conf(5) section {g} is a group of docs/spec.md")

print(f"# {failures} failed" if failures else "# all passed")
sys.exit(1 if failures else 0)
