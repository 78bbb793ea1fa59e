# SPDX-License-Identifier: ISC
# Copyright (c) 2026 The Estafeta developers
"""buzond's test-only crash knobs (BUZOND_TEST_CRASH_*: SIGKILL a session
at a chosen point of a commit) for the store crash tests (e2e 24, 49,
65): restart the store with one knob set, or none, and wait for a killed
session to be gone."""
import os
import subprocess

KNOBS = ("BUZOND_TEST_CRASH_UNLINK", "BUZOND_TEST_CRASH_COMMIT",
         "BUZOND_TEST_CRASH_MOVE")


def restart(st, knob=None, value=None):
    """Stops the store and starts it again with knob=value in its
    environment (no knob when either is unset or 0)."""
    st.stop()
    for k in KNOBS:
        os.environ.pop(k, None)
    if knob and value:
        os.environ[knob] = str(value)
    st.start()


def children_gone(st):
    """Whether the store's master has no session process left."""
    r = subprocess.run(["pgrep", "-P", str(st.proc.pid)],
                       capture_output=True, text=True)
    return r.stdout.split() == []
