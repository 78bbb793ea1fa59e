# SPDX-License-Identifier: ISC
"""Crash test with group commit (the default spool_sync): kill -9 every
estafetad process under load, three times; no acknowledged message may be
lost. See crash.py for the steps and assertions."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from estafeta_test import run  # noqa: E402
import crash  # noqa: E402

run(lambda: crash.main("group"))
