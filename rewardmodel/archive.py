"""A zip archive of a snapshot's files, streamed as it is made: nothing is built on disk or held in memory
beyond one chunk. Parquet (already compressed) is stored; text is deflated at level 1 (fast)."""

import io
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

CHUNK_BYTES = 1 << 20


class _Sink(io.RawIOBase):
    """A write-only stream that keeps what was written until drained. Not seekable, so zipfile writes
    data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        self._chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def zip_stream(*, directory: Path, names: list[str], folder: str) -> Iterator[bytes]:
    """Yield the bytes of a zip holding `names` from `directory` under `folder/`."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in names:
            path = directory / name
            stat = path.stat()
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=datetime.fromtimestamp(stat.st_mtime).timetuple()[:6])
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".parquet") else zipfile.ZIP_DEFLATED
            info.file_size = stat.st_size
            info._compresslevel = 1  # what ZipFile(compresslevel=1) sets; a ZipInfo passed to open() has none
            large = stat.st_size >= zipfile.ZIP64_LIMIT
            with archive.open(info, "w", force_zip64=large) as target, path.open("rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    target.write(chunk)
                    if data := sink.drain():
                        yield data
            yield sink.drain()
    yield sink.drain()
