"""Take the dashboard screenshots in docs/: `python docs/screenshots.py`.

They come from the browser tests' stack (real API, worker and Temporal dev server, Debian's
Chromium), seeded with jobs of every kind and state; see tests/browser/test_screenshots.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

if __name__ == "__main__":
    env = {**os.environ, "JOBDECK_SCREENSHOTS": str(DOCS)}
    test = "tests/browser/test_screenshots.py"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    sys.exit(subprocess.run(command, cwd=ROOT, env=env, check=False).returncode)
