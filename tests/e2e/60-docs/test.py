# SPDX-License-Identifier: ISC
"""The README's configuration reference lists every setting estafetad
knows (from `estafetad -n`), with its default."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from estafeta_test import ESTAFETAD, SRCDIR, Instance, TestFailure, run  # noqa: E402


def main():
    inst = Instance("docs")
    out = subprocess.run([ESTAFETAD, "-n", "-c", inst.conf],
                         capture_output=True, text=True, check=True).stdout
    keys = [line.split(" =", 1)[0] for line in out.splitlines()]
    assert len(keys) > 20, out
    with open(os.path.join(SRCDIR, "README.md")) as f:
        readme = f.read()
    rows = dict(re.findall(r"^\| `(\w+)` \| \w[^|]* \| ([^|]*) \|", readme,
                           re.M))
    missing = [k for k in keys if k not in rows]
    if missing:
        raise TestFailure("README.md configuration reference lacks: "
                          + ", ".join(missing))
    stale = [k for k in rows if k not in keys]
    if stale:
        raise TestFailure("README.md documents unknown settings: "
                          + ", ".join(stale))


run(main)
