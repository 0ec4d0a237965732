"""The option table in src/options.c is the one source (it drives the
parser and --help): every option --help lists must be described in the
man page and the README, which spell them again and drifted (--help lacked
wait-for, the man page --verbose)."""
import os
import re
import subprocess

from conftest import PODVISOR

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def help_options():
    out = subprocess.run([PODVISOR, "--help"], capture_output=True, text=True).stdout
    opts = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]+)", out, re.M))
    subs = set(re.findall(r"^\s+podvisor ([a-z-]+) ", out, re.M)) - {"version"}  # = --version
    assert "--prestop-delay" in opts and "wait-for" in subs, out
    return opts, subs


def test_every_option_is_in_the_man_page_and_the_readme():
    opts, subs = help_options()
    with open(os.path.join(ROOT, "docs", "podvisor.1")) as f:
        man = f.read().replace("\\-", "-")
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    missing = [("man", o) for o in sorted(opts) if o not in man]
    missing += [("README", o) for o in sorted(opts) if o not in readme]
    missing += [("man", s) for s in sorted(subs) if f".B {s}" not in man]
    assert not missing, missing
