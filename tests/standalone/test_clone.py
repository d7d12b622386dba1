"""The repository stands alone: a clone with nothing beside it runs the replay tests green.

The clone is of the committed HEAD of the repository these tests run from
(uncommitted changes are not in it), put in an empty directory, and tested
with this interpreter but the clone's own code (PYTHONPATH) and without any
``QS_*TRACES*`` variable: a recording read from outside the repository, e.g.
a folder of recordings beside the repository, fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Every test that reads a recording or its fixtures: replays into Redis and over
# TCP, the simulator's replay, the framer on the raw bytes, the loader.
REPLAY_TESTS = (
    "tests/ingest/runners/test_file_replay.py",
    "tests/ingest/runners/test_socket_replay.py",
    "tests/simulator/test_simulator_replay.py",
    "tests/ingest/ami/test_framing.py",
    "tests/ingest/test_traces.py",
)


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clean_environment(clone: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not (key.startswith("QS_") and "TRACES" in key) and not key.startswith("PYTEST_")
    }
    env["PYTHONPATH"] = str(clone)
    return env


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_clone_in_an_empty_directory_runs_the_replay_tests(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout (or no git): nothing to clone")
    head = _run([git, "rev-parse", "HEAD"], REPO).strip()
    empty = tmp_path / "empty"
    empty.mkdir()
    clone = empty / "queue-status"
    _run([git, "clone", "--quiet", str(REPO), str(clone)], tmp_path)
    assert _run([git, "rev-parse", "HEAD"], clone).strip() == head
    assert [p.name for p in empty.iterdir()] == ["queue-status"]  # nothing beside it

    env = _clean_environment(clone)
    # The clone's code is what runs, not the checkout the interpreter was installed from.
    where = _run([sys.executable, "-c", "import ingest.traces as t; print(t.__file__)"], clone, env)
    assert Path(where.strip()).is_relative_to(clone), where

    output = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *REPLAY_TESTS],
        clone,
        env,
    )
    summary = output.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) > 50, summary
    assert not re.search(r"failed|error|skipped", summary), summary
