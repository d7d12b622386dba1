"""Shrink a screenshot for the repository: pngquant when installed (a dev tool, not a
dependency of the project), else left as Chromium wrote it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# 256 colours with dithering keep text and the state colours crisp at a third of the size.
PNGQUANT_ARGS = ("--force", "--skip-if-larger", "--strip", "--speed", "1", "--quality", "70-95")


def shrink_png(path: Path) -> bool:
    """Re-encode `path` in place with pngquant; False when pngquant is missing or gave up
    (the picture would be worse than the quality floor, or no smaller)."""
    pngquant = shutil.which("pngquant")
    if pngquant is None:
        return False
    done = subprocess.run(
        [pngquant, *PNGQUANT_ARGS, "--output", str(path), "--", str(path)],
        check=False,
        capture_output=True,
    )
    # 98/99: the quality floor or --skip-if-larger kept the original, which is fine.
    if done.returncode not in (0, 98, 99):
        raise RuntimeError(f"pngquant failed on {path}: {done.stderr.decode(errors='replace')}")
    return done.returncode == 0
