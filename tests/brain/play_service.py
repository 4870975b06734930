"""Plays the service for a test that SIGKILLs it: starts one hanging turn and waits.

    python -m tests.brain.play_service PIDS_JSON WORK_DIR

Starts a stand-in turn that never answers and has a tool in its group, writes
{"brain", "brain_start", "tool", "turn_child", "fork_server"} to PIDS_JSON once all
exist, then sleeps until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.brain.turns import Turn
from wakeful.brain import procfs


def main(pids_json: Path, work_dir: Path) -> None:
    turn = Turn("never answer [[hang]] [[spawn-child]]", work_dir)  # killed with us
    spawned = turn.spawned()
    (tool,) = turn.tools(1)
    turn_child = procfs.stat(turn.child_pid)
    assert turn_child is not None
    pids = {"brain": spawned.pid, "brain_start": spawned.start_time, "tool": tool,
            "turn_child": turn.child_pid, "fork_server": turn_child.ppid}
    partial = pids_json.with_suffix(".partial")
    partial.write_text(json.dumps(pids))
    partial.rename(pids_json)  # the test never reads half a file
    time.sleep(3600)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
