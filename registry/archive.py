r"""The byte layout of a stored (uncompressed) ZIP archive, computed before any data is read.

A stored ZIP is its members' bytes, each after a small local header, then a central directory::

    [local header 1][data 1][descriptor 1?] ... [local header N][data N][descriptor N?]
    [central directory: one header per member][zip64 end record + locator?][end record]

When a member's CRC-32 is known up front (recorded at promotion), its local header carries it and
the data follows as it is: the bytes can go from the page cache to the socket without Python
seeing them. When it is not (a version promoted before CRCs were recorded), the header says so
(general purpose flag bit 3) and a data descriptor after the data carries the CRC computed while
the bytes went by. Either way every header's length is known in advance, so the archive's exact
size (`Content-Length`) is too.

zip64 (APPNOTE 4.5.3) is used per member whose size or offset does not fit in 32 bits, and for
the end of the central directory when the archive has 65,535 members or more or its directory
lies beyond 4 GiB. zipstream-ng, used before, always computes the CRC from the bytes it is given,
so it cannot take precomputed ones; this module writes only what we need and nothing else.

This module knows nothing of HTTP or Django.
"""

import struct
from dataclasses import dataclass
from datetime import datetime

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")
CENTRAL_HEADER = struct.Struct("<IHHHHHHIIIHHHHHII")
DESCRIPTOR_32 = struct.Struct("<IIII")
DESCRIPTOR_64 = struct.Struct("<IIQQ")
END_RECORD = struct.Struct("<IHHHHIIH")
ZIP64_END_RECORD = struct.Struct("<IQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<IIQI")

LOCAL_SIGNATURE = 0x04034B50
CENTRAL_SIGNATURE = 0x02014B50
DESCRIPTOR_SIGNATURE = 0x08074B50
END_SIGNATURE = 0x06054B50
ZIP64_END_SIGNATURE = 0x06064B50
ZIP64_LOCATOR_SIGNATURE = 0x07064B50
ZIP64_EXTRA_ID = 0x0001

FLAG_DATA_DESCRIPTOR = 0x0008
FLAG_UTF8_NAME = 0x0800
VERSION_DEFAULT = 20
VERSION_ZIP64 = 45
MADE_BY_UNIX = 3 << 8
REGULAR_FILE_MODE = 0o100644 << 16
STORED = 0

# A 32-bit field holding this value means "see the zip64 extra field"; 16-bit likewise.
MAX_32 = 0xFFFFFFFF
MAX_16 = 0xFFFF


def needs_zip64(value: int) -> bool:
    """Return whether `value` does not fit a 32-bit ZIP field (which reserves 0xFFFFFFFF)."""
    return value >= MAX_32


def dos_time(moment: datetime) -> tuple[int, int]:
    """Return (time, date) in MS-DOS format, clamped to the years it can hold."""
    year = min(max(moment.year, 1980), 2107)
    date = (year - 1980) << 9 | moment.month << 5 | moment.day
    time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
    return time, date


@dataclass
class Member:
    """One file of the archive: its name, size, CRC-32 (None: written after the data)."""

    name: str
    size: int
    crc32: int | None
    offset: int = 0  # of its local header, set by the layout

    @property
    def encoded_name(self) -> bytes:
        return self.name.encode("utf-8")

    @property
    def flags(self) -> int:
        # ASCII names carry no flag (as zipstream-ng wrote them); others say they are UTF-8.
        utf8 = 0 if self.name.isascii() else FLAG_UTF8_NAME
        return utf8 | (FLAG_DATA_DESCRIPTOR if self.deferred else 0)

    @property
    def deferred(self) -> bool:
        """Whether the CRC-32 comes after the data, in a data descriptor."""
        return self.crc32 is None

    @property
    def zip64(self) -> bool:
        """Whether the local header and descriptor carry 64-bit sizes."""
        return needs_zip64(self.size)

    @property
    def header_length(self) -> int:
        return LOCAL_HEADER.size + len(self.encoded_name) + (20 if self.zip64 else 0)

    @property
    def descriptor_length(self) -> int:
        if not self.deferred:
            return 0
        return DESCRIPTOR_64.size if self.zip64 else DESCRIPTOR_32.size

    @property
    def length(self) -> int:
        """Return the bytes this member takes in the archive: header, data, descriptor."""
        return self.header_length + self.size + self.descriptor_length


class StoredZip:
    """The layout of a stored ZIP of `members`, in order; the headers as bytes, on demand."""

    def __init__(self, members: list[Member], *, modified: datetime):
        self.members = members
        self.time, self.date = dos_time(modified)
        offset = 0
        for member in members:
            member.offset = offset
            offset += member.length
        self.directory_offset = offset
        self.directory_length = sum(self._central_length(m) for m in members)
        self.size = self.directory_offset + self.directory_length + len(self._end())

    def local_header(self, member: Member) -> bytes:
        """Return the member's local header (CRC and sizes zero when they come after the data)."""
        crc, size = (0, 0) if member.deferred else (member.crc32, member.size)
        extra = b""
        size32 = size
        if member.zip64:
            extra = struct.pack("<HHQQ", ZIP64_EXTRA_ID, 16, size, size)
            size32 = MAX_32
        return (
            LOCAL_HEADER.pack(
                LOCAL_SIGNATURE,
                VERSION_ZIP64 if member.zip64 else VERSION_DEFAULT,
                member.flags,
                STORED,
                self.time,
                self.date,
                crc,
                size32,
                size32,
                len(member.encoded_name),
                len(extra),
            )
            + member.encoded_name
            + extra
        )

    def descriptor(self, member: Member, crc32: int) -> bytes:
        """Return the data descriptor after a deferred member's data (nothing for the others)."""
        if not member.deferred:
            return b""
        if member.zip64:
            return DESCRIPTOR_64.pack(DESCRIPTOR_SIGNATURE, crc32, member.size, member.size)
        return DESCRIPTOR_32.pack(DESCRIPTOR_SIGNATURE, crc32, member.size, member.size)

    def central_directory(self, crcs: dict[int, int]) -> bytes:
        """Return the central directory and end records; `crcs` holds deferred members' CRC-32s
        by index."""
        headers = [
            self._central_header(member, member.crc32 if not member.deferred else crcs[index])
            for index, member in enumerate(self.members)
        ]
        return b"".join(headers) + self._end()

    # ---- internals ------------------------------------------------------------------------------

    @staticmethod
    def _zip64_fields(member: Member) -> list[int]:
        fields = [member.size, member.size] if needs_zip64(member.size) else []
        if needs_zip64(member.offset):
            fields.append(member.offset)
        return fields

    def _central_length(self, member: Member) -> int:
        fields = self._zip64_fields(member)
        extra = 4 + 8 * len(fields) if fields else 0
        return CENTRAL_HEADER.size + len(member.encoded_name) + extra

    def _central_header(self, member: Member, crc32: int) -> bytes:
        fields = self._zip64_fields(member)
        extra = (
            struct.pack(f"<HH{len(fields)}Q", ZIP64_EXTRA_ID, 8 * len(fields), *fields)
            if fields
            else b""
        )
        version = VERSION_ZIP64 if fields or member.zip64 else VERSION_DEFAULT
        size32 = MAX_32 if needs_zip64(member.size) else member.size
        offset32 = MAX_32 if needs_zip64(member.offset) else member.offset
        return (
            CENTRAL_HEADER.pack(
                CENTRAL_SIGNATURE,
                MADE_BY_UNIX | version,
                version,
                member.flags,
                STORED,
                self.time,
                self.date,
                crc32,
                size32,
                size32,
                len(member.encoded_name),
                len(extra),
                0,  # comment length
                0,  # disk number start
                0,  # internal attributes
                REGULAR_FILE_MODE,
                offset32,
            )
            + member.encoded_name
            + extra
        )

    def _end(self) -> bytes:
        count = len(self.members)
        zip64 = (
            count >= MAX_16
            or needs_zip64(self.directory_length)
            or needs_zip64(self.directory_offset)
        )
        tail = b""
        if zip64:
            record_offset = self.directory_offset + self.directory_length
            tail = ZIP64_END_RECORD.pack(
                ZIP64_END_SIGNATURE,
                ZIP64_END_RECORD.size - 12,  # the record's size, less its first two fields
                MADE_BY_UNIX | VERSION_ZIP64,
                VERSION_ZIP64,
                0,
                0,
                count,
                count,
                self.directory_length,
                self.directory_offset,
            ) + ZIP64_LOCATOR.pack(ZIP64_LOCATOR_SIGNATURE, 0, record_offset, 1)
        return tail + END_RECORD.pack(
            END_SIGNATURE,
            0,
            0,
            min(count, MAX_16),
            min(count, MAX_16),
            min(self.directory_length, MAX_32),
            min(self.directory_offset, MAX_32),
            0,
        )
