"""The stored-ZIP layout: what Python's zipfile and Info-ZIP's unzip read back, zip64 included."""

import io
import subprocess
import zipfile
import zlib
from datetime import datetime
from pathlib import Path

from isal import isal_zlib

from registry.archive import MAX_16, MAX_32, Member, StoredZip

MOMENT = datetime(2026, 12, 7, 2, 30, 14)


def write_archive(archive: StoredZip, data: dict[str, bytes], out) -> None:
    """Write `archive` with each member's bytes from `data`, as a download sends them."""
    crcs = {}
    for index, member in enumerate(archive.members):
        assert out.tell() == member.offset
        out.write(archive.local_header(member))
        out.write(data[member.name])
        crcs[index] = zlib.crc32(data[member.name])
        out.write(archive.descriptor(member, crcs[index]))
    out.write(archive.central_directory(crcs))


def test_members_with_and_without_a_crc_read_back_with_zipfile_and_unzip(tmp_path):
    data = {
        "config.json": b'{"a": 1}',
        "shards/model-00001.safetensors": b"w" * 100_000,
        "empty": b"",
        "données.txt": "é".encode(),
        "SHA256SUMS": b"00  config.json\n",
    }
    members = [
        Member(name, len(content), None if index % 2 else zlib.crc32(content))
        for index, (name, content) in enumerate(data.items())
    ]
    archive = StoredZip(members, modified=MOMENT)
    path = tmp_path / "a.zip"
    with open(path, "wb") as out:
        write_archive(archive, data, out)

    assert path.stat().st_size == archive.size
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert z.namelist() == list(data)
        assert {name: z.read(name) for name in data} == data
        assert z.getinfo("config.json").date_time == (2026, 12, 7, 2, 30, 14)
        assert z.getinfo("config.json").compress_type == zipfile.ZIP_STORED
    result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "No errors detected" in result.stdout


def test_a_member_beyond_4_gib_uses_zip64_sizes_and_offsets(tmp_path):
    """A real 4.5 GiB archive, written sparse: the big member's bytes are zeros never written."""
    big = 4 * 2**30 + 512 * 2**20
    zeros = bytes(2**24)
    crc = 0
    for _ in range(big // len(zeros)):
        crc = isal_zlib.crc32(zeros, crc)
    members = [
        Member("first.txt", 5, zlib.crc32(b"first")),
        Member("big.bin", big, crc),
        Member("after.txt", 5, None),  # its offset is past 4 GiB, its CRC in a descriptor
        Member("SHA256SUMS", 3, zlib.crc32(b"ok\n")),
    ]
    archive = StoredZip(members, modified=MOMENT)
    path = tmp_path / "big.zip"
    with open(path, "wb") as out:
        out.write(archive.local_header(members[0]) + b"first")
        out.write(archive.local_header(members[1]))
        out.seek(big, io.SEEK_CUR)  # a hole reads as zeros
        assert out.tell() == members[2].offset
        after_crc = zlib.crc32(b"after")
        out.write(archive.local_header(members[2]) + b"after")
        out.write(archive.descriptor(members[2], after_crc))
        out.write(archive.local_header(members[3]) + b"ok\n")
        out.write(archive.central_directory({2: after_crc}))

    assert path.stat().st_size == archive.size
    assert members[2].offset > MAX_32
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("big.bin")
        assert (info.file_size, info.CRC) == (big, crc)
        assert z.read("after.txt") == b"after"  # found through its zip64 offset
        assert z.read("SHA256SUMS") == b"ok\n"
    listing = subprocess.run(["unzip", "-l", str(path)], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert str(big) in listing.stdout
    tested = subprocess.run(
        ["unzip", "-t", str(path), "first.txt", "after.txt", "SHA256SUMS"],
        capture_output=True,
        text=True,
    )
    assert tested.returncode == 0, tested.stdout


def test_the_zip64_header_fields_of_a_big_member():
    big = 5 * 2**30
    archive = StoredZip([Member("big.bin", big, 123), Member("x", 1, None)], modified=MOMENT)
    header = archive.local_header(archive.members[0])
    directory = archive.central_directory({1: 7})

    assert header[4:6] == (45).to_bytes(2, "little")  # version needed: zip64
    assert header[18:26] == b"\xff" * 8  # sizes in the extra field
    assert header[-20:-16] == b"\x01\x00\x10\x00"
    assert int.from_bytes(header[-16:-8], "little") == big
    assert archive.members[1].offset == len(header) + big
    assert len(archive.descriptor(archive.members[1], 7)) == 16  # small member: 32-bit sizes
    # The second member's offset is past 4 GiB: its central header carries it in zip64.
    assert directory[-6:-2] == b"\xff" * 4  # the end record's directory offset: see zip64
    assert b"PK\x06\x06" in directory and b"PK\x06\x07" in directory
    assert archive.size == archive.directory_offset + len(directory)


def test_more_than_65535_members_use_the_zip64_end_records(tmp_path):
    count = MAX_16 + 10
    members = [Member(f"f{index}", 0, 0) for index in range(count)]
    archive = StoredZip(members, modified=MOMENT)
    buffer = io.BytesIO()
    write_archive(archive, {m.name: b"" for m in members}, buffer)

    assert len(buffer.getvalue()) == archive.size
    with zipfile.ZipFile(buffer) as z:
        assert len(z.infolist()) == count
        assert z.namelist()[-1] == f"f{count - 1}"
    path = Path(tmp_path / "many.zip")
    path.write_bytes(buffer.getvalue())
    assert subprocess.run(["unzip", "-tq", str(path)], capture_output=True).returncode == 0


def test_small_archives_have_no_zip64_records():
    archive = StoredZip([Member("a", 1, zlib.crc32(b"a"))], modified=MOMENT)

    directory = archive.central_directory({})

    assert b"PK\x06\x06" not in directory
    assert archive.local_header(archive.members[0])[4:6] == (20).to_bytes(2, "little")
