"""A lock file that keeps two scheduled runs (`python -m trainer.retrain`) from overlapping.

    with RunLock("runs/ucf101/retrain.lock"):
        ...  # only one process at a time gets here

The lock is a small JSON file {"pid", "host", "started"} created with O_CREAT | O_EXCL, so of two
processes starting at once exactly one creates it. The other reads who holds it and:
- on the same host, when that pid no longer runs (or now belongs to a process that started after
  the lock was taken, i.e. the pid was reused), takes the lock over and says so;
- otherwise raises `LockHeld` naming the holder. A holder on another host cannot be checked from
  here; `max_age_s` lets a caller treat such a lock as stale after a time (e.g. a pod that died).

Taking over goes through a second O_EXCL file (`<lock>.takeover`) so that two processes finding
the same stale lock cannot both win. The lock must be on a local or shared POSIX file system.
"""

import json
import os
import socket
import time

TAKEOVER_SUFFIX = ".takeover"
TAKEOVER_STALE_S = 60.0  # a takeover file older than this was left by a process that died in it
PID_REUSE_SLACK_S = 2.0


class LockHeld(RuntimeError):
    """Another live run holds the lock; the message names it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _process_start_time(pid: int) -> float | None:
    """Seconds since the epoch at which `pid` started (Linux /proc), None when unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')!r} since {started}"


class RunLock:
    """An exclusive lock file; see the module docstring. Use as a context manager or acquire/release."""

    def __init__(self, path: str, max_age_s: float = 0.0, log=print):
        self.path = path
        self.max_age_s = max_age_s
        self.log = log
        self.record = None

    def stale_reason(self, holder: dict) -> str | None:
        """Why `holder`'s lock is stale, or None when it may still be running."""
        age = time.time() - float(holder.get("started", 0))
        if self.max_age_s and age > self.max_age_s:
            return f"it is {age:.0f} s old, more than the {self.max_age_s:.0f} s allowed"
        if holder.get("host") != socket.gethostname():
            return None
        pid = int(holder.get("pid", -1))
        if pid <= 0 or not _pid_alive(pid):
            return f"process {pid} is no longer running on this host"
        started = _process_start_time(pid)
        if started is not None and started > float(holder.get("started", 0)) + PID_REUSE_SLACK_S:
            return f"pid {pid} now belongs to a process started after the lock was taken"
        return None

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        for _ in range(3):  # a takeover in progress elsewhere can make one attempt lose
            if self._create():
                return self
            holder = self._read()
            if holder is None:  # released between our attempt and the read
                continue
            reason = self.stale_reason(holder)
            if reason is None:
                raise LockHeld(f"another run holds {self.path}: {describe(holder)}. It is still "
                               "running; this run exits without doing anything.")
            self._take_over(holder, reason)
        raise LockHeld(f"could not take {self.path}: other processes keep taking it")

    def _create(self) -> bool:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        self.record = record
        return True

    def _read(self) -> dict | None:
        """The holder's record; a file being written (empty or half) counts as fresh and live."""
        try:
            with open(self.path) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return {"pid": "?", "host": "?", "started": os.path.getmtime(self.path)}

    def _take_over(self, holder: dict, reason: str) -> None:
        """Removes a stale lock, if nobody else is doing it and it is still the one we judged."""
        guard = self.path + TAKEOVER_SUFFIX
        try:
            fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if time.time() - os.path.getmtime(guard) > TAKEOVER_STALE_S:
                os.remove(guard)
            else:
                time.sleep(0.2)
            return
        try:
            os.close(fd)
            if self._read() == holder:
                os.remove(self.path)
                self.log(f"taking over the stale lock {self.path} of {describe(holder)}: {reason}")
        finally:
            os.remove(guard)

    def release(self) -> None:
        """Removes the lock if it is still ours (a lock taken over after a long stall is not)."""
        if self.record is not None and self._read() == self.record:
            os.remove(self.path)
        self.record = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
