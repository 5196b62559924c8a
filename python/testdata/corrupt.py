"""The Python side of TestPythonRefusesCorruptBytes: opens a copy of the
segment named on the command line, then changes its bytes one at a time
and reads the copy again each time: every change either reads or raises
one of the errors shmkit.py documents, never anything else, and a newer
format version is refused."""

import json
import os
import sys
import traceback

import shmkit

with open(os.path.join(shmkit.SHM_DIR, sys.argv[1]), "rb") as f:
    original = f.read()
top = int.from_bytes(original[144:152], "little")  # the heap top: every byte in use lies below
buf = bytearray(original)
expected = (ValueError, KeyError, shmkit.KindError, shmkit.NotReadyError)


def read_all(b):
    """Everything shmkit.py reads from a segment; returns the names read."""
    seg = shmkit.Segment(b)
    names = []
    for o in seg.objects():
        try:
            if o.kind == "array":
                v = seg.array(o.name)
            elif o.kind == "value":
                v = seg.value(o.name)
            else:
                continue
        except expected:
            continue
        if len(v.tolist()) != o.length or v.format != o.code:
            raise AssertionError("%r is read as %d items of %r" % (o, len(v), v.format))
        names.append(o.name)
        del v
    for n in ("count", "prices", "point"):
        for get in (seg.array, seg.value):
            try:
                get(n)
            except expected:
                pass
    seg.close()
    return names


names = read_all(buf)
if sorted(names) != ["count", "prices"]:
    sys.exit("corrupt: the intact copy reads %r" % names)

counts = {"read": 0, "refused": 0}
for off in range(top):
    for flip in (0xFF, 0x01, 0x80):
        buf[off] ^= flip
        try:
            read_all(buf)
            counts["read"] += 1
        except expected:
            counts["refused"] += 1
        except Exception:
            sys.exit("corrupt: byte %d ^ %#x: %s" % (off, flip, traceback.format_exc()))
        buf[off] = original[off]

# A newer format, checksum and all, is refused with VersionError.
newer = bytearray(original)
newer[8:12] = (shmkit.FORMAT_VERSION + 1).to_bytes(4, "little")
summed = bytes(newer[:12]) + bytes(4) + bytes(newer[16:80])
newer[80:84] = shmkit._crc32c(summed).to_bytes(4, "little")
try:
    shmkit.Segment(newer)
    sys.exit("corrupt: a format %d segment was read" % (shmkit.FORMAT_VERSION + 1))
except shmkit.VersionError as e:
    counts["newer"] = str(e)

# Truncated and foreign files.
for b in (bytearray(original[:100]), bytearray(original[:-64]), bytearray(b"\0" * 4096),
          bytearray(os.urandom(4096))):
    try:
        shmkit.Segment(b)
        sys.exit("corrupt: %d bytes starting %r were read as a segment" % (len(b), bytes(b[:8])))
    except shmkit.CorruptError:
        pass

print(json.dumps(counts))
