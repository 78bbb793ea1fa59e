# SPDX-License-Identifier: ISC
"""The README's configuration references list every setting estafetad
and buzond know (from `estafetad -n` and `buzond -n`), and nothing else:
one table each (see contrib/gen-cfgref.py)."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import (BUZOND, ESTAFETAD, SRCDIR, Instance, Store,  # noqa: E402
                           TestFailure, run)


def settings(cmd, conf):
    out = subprocess.run([cmd, "-n", "-c", conf], capture_output=True,
                         text=True, check=True).stdout
    keys = [line.split(" =", 1)[0] for line in out.splitlines()]
    assert len(keys) > 20, out
    return keys


def check_table(what, keys, table):
    rows = dict(re.findall(r"^\| `(\w+)` \| \w[^|]* \| ([^|]*) \|", table,
                           re.M))
    missing = [k for k in keys if k not in rows]
    if missing:
        raise TestFailure(f"README.md {what} reference lacks: "
                          + ", ".join(missing))
    stale = [k for k in rows if k not in keys]
    if stale:
        raise TestFailure(f"README.md {what} reference documents unknown "
                          "settings: " + ", ".join(stale))


def main():
    inst = Instance("docs")
    st = Store("docs", tls=False)
    with open(os.path.join(SRCDIR, "README.md")) as f:
        readme = f.read()
    tables = {}
    for what, header in (("estafetad", "| setting |"),
                         ("buzond", "| buzond setting |")):
        a = readme.index(header)
        tables[what] = readme[a:readme.index("\n\n", a)]
    check_table("estafetad", settings(ESTAFETAD, inst.conf),
                tables["estafetad"])
    check_table("buzond", settings(BUZOND, st.conf), tables["buzond"])

run(main)
