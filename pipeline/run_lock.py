"""One exclusive lock helper, on `filelock`: the retrain lock, the model directory's writer lock and
the preprocessing output's lock.

    with RunLock("runs/ucf101/retrain.lock"):
        ...  # only one process at a time gets here

The lock is an OS lock (flock) on the file, so the OS releases it when its holder dies, however it
dies (kill -9 included): there is no stale lock to detect or take over. The holder writes
{"pid", "host", "started"} into the lock file once it holds it; a process that finds the lock held
raises `LockHeld` naming that holder. The file stays in place after release; only the OS lock
counts, never the file's existence.

flock needs a local (or NFSv4/Lustre-style) POSIX file system: `RunLock.for_path` returns None for
an object-store path such as gs://, which cannot be locked; callers log that and go on without a
lock (`directory_lock`).
"""

import json
import os
import socket
import time

import filelock

WRITER_LOCK_NAME = "trainer.lock"
OUTPUT_LOCK_NAME = "preprocess.lock"


class LockHeld(RuntimeError):
    """Another live process holds the lock; the message names it."""


def describe(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')!r} since {started}"


def is_local(path: str) -> bool:
    """Whether `path` is on a file system flock can lock (no URL scheme such as gs://)."""
    return "://" not in path


class RunLock:
    """An exclusive OS lock on `path`; see the module docstring. A context manager, or
    acquire/release. `what` names the resource in the refusal ("another run", "another trainer")."""

    def __init__(self, path: str, what: str = "another run", advice: str = "It is still "
                 "running; this run exits without doing anything."):
        if not is_local(path):
            raise ValueError(f"{path}: a lock needs a local file system (flock); see "
                             "pipeline/run_lock.py")
        self.path, self.what, self.advice = path, what, advice
        # Without flock the library would fall back to a soft lock that outlives a killed holder.
        self._lock = filelock.FileLock(path, fallback_to_soft=False, on_acquired=self._write_holder)

    def _write_holder(self, fd: int) -> None:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)

    def holder(self) -> dict:
        """Who holds the lock, as it wrote itself into the file ("?" while it is writing)."""
        try:
            with open(self.path) as f:  # a local lock file (is_local), never a flag's remote path
                return json.loads(f.read())
        except (OSError, ValueError):
            return {"pid": "?", "host": "?", "started": time.time()}

    def acquire(self) -> "RunLock":
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LockHeld(f"{self.what} holds {self.path}: {describe(self.holder())}. "
                           f"{self.advice}") from None
        return self

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def directory_lock(directory: str, name: str, what: str, advice: str, log) -> RunLock | None:
    """`directory`'s one-writer lock (the file `name` in it), held; None (said through `log`) on an
    object store.

    A gs:// folder cannot be flock'ed and TensorFlow offers no lock there (its file systems have
    no exclusive create); a second writer is then not stopped, so the log line says so.
    """
    path = os.path.join(directory, name)
    if not is_local(path):
        log(f"{directory} is not a local file system: no writer lock is taken there, so nothing "
            f"stops {what} writing to it at the same time; run one at a time")
        return None
    return RunLock(path, what=what, advice=advice).acquire()


def writer_lock(model_dir: str, log) -> RunLock | None:
    """The model directory's lock: one trainer writes it."""
    return directory_lock(model_dir, WRITER_LOCK_NAME, "another trainer", "Only one trainer may "
                          "write a model directory: wait for that one to finish or stop it, or "
                          "pass another --model_dir.", log)


def output_lock(output: str, log) -> RunLock | None:
    """The preprocessing output's lock: one job writes a shard set (or a dataset root) at a time."""
    return directory_lock(output, OUTPUT_LOCK_NAME, "another preprocessing job", "Two jobs "
                          "into one --output would overwrite each other's shards: wait for that "
                          "one to finish or stop it, or pass another --output.", log)
