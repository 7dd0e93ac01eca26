"""Decision-model fixtures shared with the solver tests."""

from tests.solve.conftest import sources, standard_inputs, standard_model  # noqa: F401


def draw_task_pids() -> list[int]:
    """Ray workers executing a draw task now (Ray sets a busy worker's process title to
    ``ray::_draw_task``, an idle one's to ``ray::IDLE``), found through /proc."""
    from pathlib import Path

    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"ray::_draw_task"):
            pids.append(int(proc.name))
    return pids


def await_exit(pids: list[int], timeout_s: float = 60.0) -> None:
    """Block until every process in ``pids`` has exited: a pidfd becomes readable when its
    process ends (Linux >= 5.3), so this waits for the exits, not for a time; the timeout is
    only a safety net."""
    import os
    import select

    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            continue
        try:
            if not select.select([fd], [], [], timeout_s)[0]:
                raise AssertionError(f"process {pid} still running after {timeout_s} s")
        finally:
            os.close(fd)
