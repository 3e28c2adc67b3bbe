"""The SIGKILL tests' child: a script run by our own interpreter that must die by SIGKILL.

Each test passes its script (which installs engine or session hooks that kill the process at
one point of a transaction) and the script's arguments as JSON in ``argv[1]``; the child
prints ``survived`` only if it ran to the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_until_killed(script: str, arguments: list[Any]) -> None:
    """Run ``script`` with ``arguments``; assert it was killed by SIGKILL, never surviving."""
    child = subprocess.run(  # our own interpreter and script
        [sys.executable, "-c", script, json.dumps(arguments)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert "survived" not in child.stdout
