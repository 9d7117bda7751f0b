"""Kill a library operation at its commit points: the engine half of tests/engine/test_faults.py.

Run as `python fault_driver.py PLAN.json RESULTS.json`. For every case of the plan the driver forks
a child that opens a copy of a prepared library, counts the storage layer's commits (a hook on
Database._commit) and kills itself with SIGKILL just before (or just after) commit number N of
the operation. N = 0 runs the operation to its end and reports how many commits it made. The
parent imports the engine once and forks, so a case costs the operation, not Python's start-up; it
never runs a model itself (a forked child must be the first to use torch's thread pools).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import torch

from engine.config import ModelSpec
from engine.library import Library
from engine.storage.database import Database
from trainer.versions import create_version, rollback, use_version

PARALLEL = 2


def text_deltas(library: Library) -> dict[str, torch.Tensor]:
    """A small change to the text tower only: what a text-side fine-tune leaves."""
    generator = torch.Generator().manual_seed(0)
    shape = library.encoder().model.state_dict()["text_projection"].shape
    return {"text_projection": 0.01 * torch.randn(shape, generator=generator)}


def new_version(library: Library):
    return create_version(library, library.model, text_deltas(library), {"tune": "text"}, {"seed": 0})


def prepare(scenario: str, library: Library) -> None:
    """State the operation starts from (not counted)."""
    if scenario in ("activate", "rollback"):
        new_version(library)
    if scenario == "rollback":
        use_version(library, 1)


def operate(scenario: str, library: Library, plan: dict) -> None:
    """The user-visible operation whose commits are counted and killed at."""
    if scenario == "index":
        library.add_folders([plan["folder_a"]])
        library.index()
    elif scenario == "rescan":
        library.index()
    elif scenario == "model_switch":
        library.set_model(ModelSpec(plan["switch_config"], None))
        library.index()
    elif scenario == "text_switch":
        library.switch_text_side(ModelSpec(plan["text_config"], None))
    elif scenario == "create_version":
        new_version(library)
    elif scenario == "activate":
        use_version(library, 1)
    elif scenario == "rollback":
        rollback(library)
    elif scenario == "folder_add":
        library.add_folders([plan["folder_b"]])
        library.index()
    elif scenario == "folder_remove":
        library.remove_folder(plan["folder_a"])
    else:
        raise ValueError(scenario)


def child(case: dict, plan: dict, report: Path) -> None:
    kill_at, after = case["kill_at"], case["after"]
    library = Library(case["library"], batch_size=2)
    prepare(case["scenario"], library)
    commits = 0
    commit = Database._commit

    def counting_commit(self: Database, conn) -> None:
        nonlocal commits
        commits += 1
        if commits == kill_at and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        commit(self, conn)
        if commits == kill_at and after:
            os.kill(os.getpid(), signal.SIGKILL)

    Database._commit = counting_commit  # type: ignore[method-assign]
    operate(case["scenario"], library, plan)
    library.close()
    report.write_text(str(commits))


def run_case(case: dict, plan: dict) -> int:
    """Fork a child for one case; returns its pid."""
    shutil.copytree(plan["templates"][case["scenario"]], case["library"])
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            torch.set_num_threads(1)
            child(case, plan, Path(case["library"] + ".commits"))
        except BaseException as e:  # reported to the test, which fails on it
            Path(case["library"] + ".error").write_text(f"{type(e).__name__}: {e}")
            code = 1
        finally:
            os._exit(code)
    return pid


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    results = []
    cases = list(plan["cases"])
    running: dict[int, dict] = {}
    while cases or running:
        while cases and len(running) < PARALLEL:
            case = cases.pop(0)
            running[run_case(case, plan)] = case
        pid, status = os.wait()
        case = running.pop(pid)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        error = Path(case["library"] + ".error")
        commits = Path(case["library"] + ".commits")
        results.append(
            {
                **case,
                "killed": killed,
                "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                "error": error.read_text() if error.exists() else None,
                "commits": int(commits.read_text()) if commits.exists() else None,
            }
        )
    Path(sys.argv[2]).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
