"""Holds one video's encoded records until its decode has ended well, in bounded memory.

A video is streamed: its clips are cut and encoded while ffmpeg is still decoding it. Whether
the video is good is known only when ffmpeg exits (a damaged stream fails at its damage), and a
failed video must leave no clip in the shards. So its records wait here: in memory up to
`memory_bytes`, past that in a local temporary file, which keeps a worker's memory flat for an
hour-long video. Read back in order, then closed (the file is removed).

    spool = RecordSpool()
    spool.add(record) ...
    for record in spool: ...
    spool.close()
"""

import struct
import tempfile

DEFAULT_MEMORY_BYTES = 32 * 1024 * 1024  # ~160 raw 16x64x64 clips: every UCF-101 video fits
_LENGTH = struct.Struct("<Q")


class RecordSpool:
    """An append-only sequence of byte strings, spilled to a temporary file past a memory budget."""

    def __init__(self, memory_bytes: int = DEFAULT_MEMORY_BYTES):
        self._memory_bytes = memory_bytes
        self._records, self._held, self._count = [], 0, 0
        self._file = None

    def __len__(self) -> int:
        return self._count

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def add(self, record: bytes) -> None:
        self._count += 1
        if self._file is None and self._held + len(record) <= self._memory_bytes:
            self._records.append(record)
            self._held += len(record)
            return
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="spool-")  # removed by the OS once closed
        self._file.write(_LENGTH.pack(len(record)))
        self._file.write(record)

    def __iter__(self):
        yield from self._records
        if self._file is None:
            return
        self._file.flush()
        self._file.seek(0)
        while header := self._file.read(_LENGTH.size):
            yield self._file.read(_LENGTH.unpack(header)[0])

    def close(self) -> None:
        self._records, self._held = [], 0
        if self._file is not None:
            self._file.close()
            self._file = None

