# SPDX-License-Identifier: ISC
"""Crash test with spool_sync = fsync (each smtpd fsyncs its own file and
directory): kill -9 every estafetad process under load, three times; no
acknowledged message may be lost. Steps and assertions: see
../30-crash/crash.py."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "30-crash"))
from estafeta_test import run  # noqa: E402
import crash  # noqa: E402

run(lambda: crash.main("fsync"))
