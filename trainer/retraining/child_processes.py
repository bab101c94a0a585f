"""The child processes of a retraining run (trainer/retraining/retrain.py), which must not outlive it.

Each child runs in a process group of its own and is told by the kernel (Linux
PR_SET_PDEATHSIG) to get SIGTERM when the run dies, even by kill -9: the trainer then checkpoints
and exits instead of training on as an orphan beside the next run. Its pid, process start time
and command are written to a record file beside the run lock while it runs; the next run, once
it holds the lock, stops any recorded child that still runs (`stop_orphans`) before it starts
its own: that covers what PR_SET_PDEATHSIG cannot (another OS, a child's own children).
"""

import ctypes
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

from absl import logging

from pipeline import files

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_GRACE_S = 120.0  # an orphan trainer's SIGTERM checkpoint takes seconds; then SIGKILL


class RunFailed(RuntimeError):
    """A step of the run failed or was interrupted; the message says which and what to do."""


def _die_with(parent: int):
    """preexec_fn: in the child, before exec, ask for SIGTERM when `parent` dies."""
    def preexec():
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
    return preexec


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc), telling a reused pid apart;
    None when it does not run (a zombie, exited but not yet reaped, counts as not running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:  # a local kernel file, not a flag's path
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


class Children:
    """Runs one child at a time; SIGTERM to this process is passed on to it and ends the run.

    `record_path` (a local file beside the run lock) names the running child for `stop_orphans`.
    """

    def __init__(self, record_path: str = ""):
        self.current = None
        self.terminated = False
        self.commands = []
        self.record_path = record_path

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame):
        logging.warning("SIGTERM: passing it to the running step and stopping after it")
        self.terminated = True
        if self.current is not None and self.current.poll() is None:
            os.killpg(self.current.pid, signal.SIGTERM)  # its group: Beam's workers, ffmpeg too

    def run(self, stage: str, args: list[str]) -> None:
        if self.terminated:
            raise RunFailed(f"stopped by SIGTERM before {stage}")
        command = [sys.executable, "-m", *args]
        logging.info("%s: %s", stage, shlex.join(command))
        started = time.monotonic()
        self.current = subprocess.Popen(command, process_group=0, preexec_fn=_die_with(os.getpid()))
        self._write_record(command)
        try:
            status = self.current.wait()
        finally:
            self.current = None
            self._write_record(None)
        self.commands.append({"stage": stage, "command": shlex.join(command), "exit_status": status,
                              "seconds": round(time.monotonic() - started, 1)})
        if self.terminated:
            raise RunFailed(f"stopped by SIGTERM during {stage} (its exit status: {status})")
        if status != 0:
            raise RunFailed(f"{stage} failed with exit status {status}: {shlex.join(command)} "
                            "(its output is above); fix that and run retrain again")

    def _write_record(self, command) -> None:
        if not self.record_path:
            return
        if command is None:
            record = {}
        else:
            pid = self.current.pid
            record = {"pid": pid, "start_time": start_time(pid), "host": socket.gethostname(),
                      "command": shlex.join(command)}
        files.atomic_write(self.record_path, json.dumps(record))  # local, beside the lock


def stop_orphans(record_path: str, grace_s: float = ORPHAN_GRACE_S) -> int | None:
    """Stops the child an earlier run left running (SIGTERM to its group, SIGKILL after grace_s);
    returns its pid, None when there was none. Call only while holding the run lock."""
    try:
        with open(record_path) as f:  # local, beside the lock
            record = json.load(f)
    except (OSError, ValueError):
        return None
    pid = record.get("pid")
    if (not pid or record.get("host") != socket.gethostname()
            or start_time(pid) is None or start_time(pid) != record.get("start_time")):
        return None  # gone, or the pid now belongs to another process
    logging.warning("a child of an earlier retrain run still runs (pid %d: %s); stopping it "
                    "before this run starts", pid, record.get("command"))
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while start_time(pid) == record["start_time"] and time.monotonic() < deadline:
        time.sleep(0.2)
    if start_time(pid) == record["start_time"]:
        logging.warning("pid %d did not stop within %.0f s of SIGTERM: killing it", pid, grace_s)
        _signal_group(pid, signal.SIGKILL)
    return pid


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
