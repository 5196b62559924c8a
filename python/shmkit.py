"""Read and write shmkit's shared objects from Python.

A Go program places Values and Arrays in a named shmkit segment; this
module, which needs only the standard library (numpy is used when it is
installed), opens the segment by name, lists its objects, and gives a Value
or an Array of a scalar type as a memoryview of the shared memory itself,
cast to the element's type code, or as a numpy array. Everything is read
from the segment: its header, its directory and each object's own header;
no offset or type code passes out of band.

    import shmkit

    with shmkit.open("orders") as seg:       # /dev/shm/orders, made by Go
        for o in seg.objects():
            print(o.name, o.kind, o.size, o.code, o.length)
        prices = seg.array("prices")         # memoryview, format 'd'
        prices[0] = 101.5                    # Go's At(0) returns 101.5
        count = seg.value("count")           # memoryview of one item
        count[0] += 1                        # a load, then a store: not atomic

The Go side of the example:

    seg, err := shm.Create("orders", 1<<20, nil)
    prices, err := array.New[float64](1000, shm.In(seg, "prices"))
    count, err := value.New[int64](0, shm.In(seg, "count"))

Loads and stores
----------------

An element is read and written in place, with no lock: Python takes neither
an Array's nor a Value's lock (a robust futex lock it cannot join). A Value
of a scalar type is one item of 1, 2, 4 or 8 bytes, aligned to its size, and
the memoryview covers exactly that item, so that `v[0]` and `v[0] = x` copy
the item with one fixed-size memcpy in CPython's memoryview code. Python
itself guarantees nothing about how that copy is made; CPython's compilers
make it a single load or store on amd64 and arm64, where such an aligned
access is single-copy atomic: Go's atomic Load never sees half of a Python
store, nor Python half of Go's. A read, change and write (`v[0] += 1`) is
three steps, not an atomic add: another process's change in between is
lost. Array elements are the same single accesses; a whole-array copy
(`tolist()`, numpy operations) is not a snapshot.

What is checked
---------------

Opening checks the segment header as Go does (magic, format version,
CRC-32C checksum, sizes and offsets against the file's size) and refuses a
format newer than FORMAT_VERSION with VersionError. Finding an object checks
its directory entry (checksum, bounds), the block header it points at (which
must name the entry back, with the same kind, layout fingerprint, length and
generation), the object's own header (type code, element size, length), and
that the layout fingerprint is the type code's. Bytes that fail a check
raise CorruptError, a ValueError; no value read from the segment is used as
an offset or length before it is checked. The directory is read without the
allocator's lock, so an entry that is being changed while it is read is read
again before it is called corrupt.

Caveats
-------

- A view is valid only while its segment is open: close() releases the
  views it gave, and refuses (BufferError) while a view sliced from one or
  a numpy array over one is alive.
- A segment truncated by another process (only a broken or hostile one does
  that) makes access fault, as in Go.
- Only Values and Arrays of the scalar type codes (b B c ? h H i I l L q Q
  f d) are given; a Value or Array of a struct, and the other kinds, are
  listed but not opened.
- Python attaches without registering in the segment, so shmctl does not
  list it among the segment's users; Free or shmctl gc may remove the name
  while Python has it open, and Python keeps its mapping.
- Linux on amd64 and arm64 only, little endian, as shmkit.
"""

import collections
import mmap
import os
import struct
import sys
import time
import weakref

__all__ = [
    "FORMAT_VERSION", "CorruptError", "VersionError", "KindError", "NotReadyError",
    "ObjectInfo", "Segment", "open",
]

FORMAT_VERSION = 3
"""The newest segment format this module reads (shm's formatVersion)."""

SHM_DIR = "/dev/shm"


class CorruptError(ValueError):
    """Bytes no shmkit process writes: not a segment, or a damaged one."""


class VersionError(ValueError):
    """The segment was made with another format version than this module's."""


class KindError(TypeError):
    """The object is of another kind than asked for (an Array asked for as a
    Value), or holds a struct rather than a scalar with a type code."""


class NotReadyError(RuntimeError):
    """The segment or object is still being made by its creator."""


# Segment header (shm/format.go).
_MAGIC = b"shmkitSG"
_HEADER_SIZE = 256
_ENTRY_SIZE = 128
_BLOCK_HEADER = 64
_BLOCK_ALIGN = 64
_MIN_BLOCK = _BLOCK_HEADER + _BLOCK_ALIGN
_MAX_SEGMENT = 1 << 40
_MAX_ENTRIES = 1 << 16
_MAX_OBJECT_NAME = 64
_H_VERSION, _H_STATE, _H_SIZE, _H_ID = 8, 12, 16, 24
_H_CREATOR_PID, _H_FLAGS, _H_CREATOR_WORD = 32, 36, 40
_H_HEADER_SIZE, _H_ENTRIES, _H_DIR_OFF, _H_HEAP_OFF = 48, 52, 56, 64
_H_SUM, _H_SUMMED, _H_LOCK_OWNER, _H_TOP, _H_MUTABLE_END = 80, 84, 128, 144, 168
_STATE_CREATING, _STATE_READY = 0, 1
_FLAG_ANONYMOUS = 1

# Directory entry.
_E_STATE, _E_KIND, _E_FP, _E_OFF, _E_LEN = 0, 4, 8, 16, 24
_E_OWNER, _E_GEN, _E_NAME_LEN, _E_SUM, _E_NAME = 32, 40, 48, 52, 64
_ENTRY_EMPTY, _ENTRY_RESERVED, _ENTRY_LIVE = 0, 1, 2

# Block header.
_B_STATE, _B_KIND, _B_SIZE, _B_FP, _B_GEN, _B_LEN, _B_ENTRY = 0, 4, 8, 16, 32, 40, 48
_BLOCK_USED = 0x64657375

# Kinds (shm/kind.go).
_KINDS = ("", "bytes", "value", "array", "mutex", "rlock", "semaphore", "cond",
          "event", "barrier", "ring", "queue", "pipe", "map", "list", "table",
          "shard", "rwmutex", "pubsub")
_KIND_VALUE, _KIND_ARRAY = 2, 3

# The header of a Value's or Array's payload (internal/share).
_DATA_OFFSET = 64
_FLAG_LOCKED, _FLAG_SHARED = 1, 2

# Each type code's shape in package ctypes, whose FNV-1a hash is the layout
# fingerprint Go records for the object; 'l' and 'L' are 8 bytes on LP64.
_CODE_SHAPE = {
    "b": "i8", "B": "u8", "c": "u8", "?": "bool", "h": "i16", "H": "u16",
    "i": "i32", "I": "u32", "l": "i64", "L": "u64", "q": "i64", "Q": "u64",
    "f": "f32", "d": "f64",
}

# How many times an entry that fails its checks is read again before it is
# called corrupt: a Go process may be rewriting it.
_REREADS = 5


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def _crc32c(data, crc=0):
    """CRC-32C (Castagnoli), as Go's crc32.Update with the Castagnoli table."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fnv1a64(s):
    h = 14695981039346656037
    for c in s.encode():
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def _u16(b, off):
    return int.from_bytes(b[off:off + 2], "little")


def _u32(b, off):
    return int.from_bytes(b[off:off + 4], "little")


def _u64(b, off):
    return int.from_bytes(b[off:off + 8], "little")


def _align_up(n, a):
    return (n + a - 1) & ~(a - 1)


def _kind_name(k):
    return _KINDS[k] if 0 < k < len(_KINDS) else "Kind(%d)" % k


ObjectInfo = collections.namedtuple(
    "ObjectInfo", "name kind size code length ready")
ObjectInfo.__doc__ = """A named object of a segment, as objects() lists it.

name: its name; kind: "value", "array", "queue", ...; size: its payload in
bytes; code: the type code of a Value's or Array's scalar elements, else
None; length: an Array's number of elements (1 for a Value), else None;
ready: False while its creator is still making it."""


class _Header:
    """The checked immutable part of a segment header."""

    def __init__(self, b, file_size):
        if len(b) < len(_MAGIC) or bytes(b[:len(_MAGIC)]) != _MAGIC:
            raise CorruptError("not a shmkit segment: no shmkit magic")
        if len(b) < _HEADER_SIZE:
            raise CorruptError("truncated header (%d of %d bytes)" % (len(b), _HEADER_SIZE))
        self.version = _u32(b, _H_VERSION)
        if self.version > FORMAT_VERSION:
            raise VersionError("segment format %d, this module reads up to %d: use a newer shmkit.py"
                               % (self.version, FORMAT_VERSION))
        if self.version == 0:
            raise CorruptError("format version 0")
        summed = bytes(b[:_H_STATE]) + bytes(4) + bytes(b[_H_STATE + 4:_H_SUM])
        got, want = _u32(b, _H_SUM), _crc32c(summed)
        if got != want:
            raise CorruptError("header checksum %#010x, computed %#010x" % (got, want))
        if self.version < FORMAT_VERSION:
            raise VersionError("segment format %d, older than the %d this module reads"
                               % (self.version, FORMAT_VERSION))
        if any(b[_H_SUMMED:_H_LOCK_OWNER]) or any(b[_H_MUTABLE_END:_HEADER_SIZE]):
            raise CorruptError("reserved header bytes are not zero")
        self.size = _u64(b, _H_SIZE)
        self.id = _u64(b, _H_ID)
        self.creator_pid = _u32(b, _H_CREATOR_PID)
        creator_word = _u64(b, _H_CREATOR_WORD)
        flags = _u32(b, _H_FLAGS)
        self.entries = _u32(b, _H_ENTRIES)
        self.dir_off = _u64(b, _H_DIR_OFF)
        self.heap_off = _u64(b, _H_HEAP_OFF)
        if self.size != file_size:
            raise CorruptError("file is %d bytes, header says %d (truncated or resized)"
                               % (file_size, self.size))
        if self.size > _MAX_SEGMENT:
            raise CorruptError("size %d beyond the %d maximum" % (self.size, _MAX_SEGMENT))
        if _u32(b, _H_HEADER_SIZE) != _HEADER_SIZE:
            raise CorruptError("header size %d" % _u32(b, _H_HEADER_SIZE))
        if self.id == 0:
            raise CorruptError("zero segment id")
        if not 0 < self.creator_pid < 1 << 31 or creator_word >> 32 != self.creator_pid:
            raise CorruptError("creator pid %d, owner word %#x" % (self.creator_pid, creator_word))
        if flags & ~_FLAG_ANONYMOUS:
            raise CorruptError("unknown flags %#x" % flags)
        if not 0 < self.entries <= _MAX_ENTRIES:
            raise CorruptError("directory of %d entries" % self.entries)
        heap_off = _align_up(_HEADER_SIZE + self.entries * _ENTRY_SIZE, _BLOCK_ALIGN)
        if (self.dir_off != _HEADER_SIZE or self.heap_off != heap_off
                or self.size < heap_off + _MIN_BLOCK):
            raise CorruptError("directory at %d and heap at %d do not fit a %d-byte segment of %d entries"
                               % (self.dir_off, self.heap_off, self.size, self.entries))
        self.heap_end = self.size & ~(_BLOCK_ALIGN - 1)


class _Entry:
    """A checked directory entry and the block it names."""

    def __init__(self, b, index, h):
        self.index = index
        self.state = _u32(b, _E_STATE)
        if self.state == _ENTRY_EMPTY:
            return
        if self.state not in (_ENTRY_RESERVED, _ENTRY_LIVE):
            raise CorruptError("directory entry %d: state %d" % (index, self.state))
        n = _u16(b, _E_NAME_LEN)
        if not 0 < n <= _MAX_OBJECT_NAME:
            raise CorruptError("directory entry %d: name of %d bytes" % (index, n))
        got = _u32(b, _E_SUM)
        want = _crc32c(bytes(b[_E_KIND:_E_SUM]) + bytes(b[_E_NAME:_E_NAME + n]))
        if got != want:
            raise CorruptError("directory entry %d: checksum %#010x, computed %#010x" % (index, got, want))
        if any(b[_E_NAME_LEN + 2:_E_SUM]) or any(b[_E_SUM + 4:_E_NAME]) or any(b[_E_NAME + n:_ENTRY_SIZE]):
            raise CorruptError("directory entry %d: reserved bytes are not zero" % index)
        try:
            self.name = bytes(b[_E_NAME:_E_NAME + n]).decode()
        except UnicodeDecodeError:
            raise CorruptError("directory entry %d: name is not UTF-8" % index) from None
        if ("/" in self.name or ".." in self.name or self.name == "."
                or any(ord(c) < 0x20 or c == "\x7f" for c in self.name)):
            raise CorruptError("directory entry %d: name %r" % (index, self.name))
        self.kind = _u32(b, _E_KIND)
        self.fp = _u64(b, _E_FP)
        self.off = _u64(b, _E_OFF)
        self.length = _u64(b, _E_LEN)
        self.gen = _u64(b, _E_GEN)
        what = "directory entry %d (%r)" % (index, self.name)
        if (self.off % _BLOCK_ALIGN or self.off < h.heap_off + _BLOCK_HEADER
                or self.off >= h.heap_end or not 0 < self.length <= h.heap_end - self.off):
            raise CorruptError("%s: payload of %d bytes at %d is outside the heap [%d, %d)"
                               % (what, self.length, self.off, h.heap_off, h.heap_end))
        if self.kind == 0 or _u64(b, _E_OWNER) == 0:
            raise CorruptError("%s: kind %d, creator %#x" % (what, self.kind, _u64(b, _E_OWNER)))

    def check_block(self, buf, h):
        """Checks that the block before the payload is this entry's, and
        that it ends at or before the heap top."""
        top = _u64(buf, _H_TOP)
        start = self.off - _BLOCK_HEADER
        if top % _BLOCK_ALIGN or not h.heap_off <= top <= h.heap_end:
            raise CorruptError("heap top %d outside the heap [%d, %d]" % (top, h.heap_off, h.heap_end))
        k = bytes(buf[start:self.off])
        size = _u64(k, _B_SIZE)
        if (_u32(k, _B_STATE) != _BLOCK_USED or size < _MIN_BLOCK or size % _BLOCK_ALIGN
                or start >= top or size > top - start
                or _u32(k, _B_ENTRY) != self.index + 1 or _u64(k, _B_GEN) != self.gen
                or _u32(k, _B_KIND) != self.kind or _u64(k, _B_FP) != self.fp
                or _u64(k, _B_LEN) != self.length or self.length > size - _BLOCK_HEADER):
            raise CorruptError("directory entry %d (%r) points at offset %d, where its block does not start"
                               % (self.index, self.name, self.off))


def _scalar_header(p, length, entry):
    """Checks the header of a Value's or Array's payload of length bytes,
    which starts with the bytes p; returns its type code and length. It
    takes a copy of the bytes, so that no view of the segment outlives an
    error."""
    what = "%s %r" % (_kind_name(entry.kind), entry.name)
    if length < _DATA_OFFSET or len(p) < _DATA_OFFSET:
        raise CorruptError("%s: payload of %d bytes" % (what, length))
    code, size, flags = p[0], _u32(p, 4), _u32(p, 8)
    lock, lock_gen, n = _u64(p, 16), _u64(p, 24), _u64(p, 32)
    if any(p[1:4]) or any(p[12:16]) or any(p[48:64]):
        raise CorruptError("%s: reserved header bytes are not zero" % what)
    if flags & ~(_FLAG_LOCKED | _FLAG_SHARED) or (flags & _FLAG_SHARED and not flags & _FLAG_LOCKED):
        raise CorruptError("%s: unknown flags %#x" % (what, flags))
    if bool(flags & _FLAG_LOCKED) != (lock != 0) or (lock == 0) != (lock_gen == 0):
        raise CorruptError("%s: lock reference %d/%d with flags %#x" % (what, lock, lock_gen, flags))
    if code == 0:
        raise KindError("%s holds a struct or array type, not a scalar with a type code" % what)
    code = chr(code)
    if code not in _CODE_SHAPE:
        raise CorruptError("%s: type code %r" % (what, code))
    if size != struct.calcsize(code):
        raise CorruptError("%s: %d-byte elements of code %r, which is %d bytes"
                           % (what, size, code, struct.calcsize(code)))
    if entry.fp != _fnv1a64(_CODE_SHAPE[code]):
        raise CorruptError("%s: layout fingerprint %#018x is not type code %r's" % (what, entry.fp, code))
    if n > (length - _DATA_OFFSET) // size:
        raise CorruptError("%s: %d elements of %d bytes in %d bytes" % (what, n, size, length))
    if entry.kind == _KIND_VALUE and n != 1:
        raise CorruptError("%s: a value of %d elements" % (what, n))
    return code, n


class Segment:
    """A shmkit segment mapped in this process: see open().

    It is a context manager; close() unmaps it."""

    def __init__(self, buf, name="", _mmap=None, _file_size=None):
        """Reads the segment in buf (an mmap, or any writable buffer holding
        a segment's bytes, such as a bytearray copy for inspection)."""
        self.name = name
        self._map = _mmap
        self._buf = memoryview(buf)
        self._views = []  # weak references to the views handed out
        size = len(self._buf) if _file_size is None else _file_size
        try:
            self._h = _Header(bytes(self._buf[:_HEADER_SIZE]), size)
            state = _u32(self._buf, _H_STATE)
            if state not in (_STATE_CREATING, _STATE_READY):
                raise CorruptError("state word %d" % state)
        except BaseException:
            self._buf.release()  # so that the caller can close buf
            raise
        self._views.append(weakref.ref(self._buf))
        # Only a mapping can change while it is read.
        self._rereads = _REREADS if _mmap is not None else 1

    @property
    def size(self):
        """The segment's size in bytes, header included."""
        return self._h.size

    @property
    def id(self):
        """The segment's random identity (Go's Segment.ID)."""
        return self._h.id

    @property
    def ready(self):
        """False while the creator is still making the segment."""
        self._usable()
        return _u32(self._buf, _H_STATE) == _STATE_READY

    def _usable(self):
        if self._buf is None:
            raise ValueError("segment %r is closed" % self.name)

    def _entries(self):
        """The directory's non-empty entries, each checked with its block."""
        self._usable()
        h, buf = self._h, self._buf
        out = []
        for i in range(h.entries):
            start = h.dir_off + i * _ENTRY_SIZE
            for attempt in range(self._rereads):
                b = bytes(buf[start:start + _ENTRY_SIZE])
                try:
                    e = _Entry(b, i, h)
                    if e.state != _ENTRY_EMPTY:
                        e.check_block(buf, h)
                    break
                except CorruptError:
                    if attempt == self._rereads - 1:
                        raise
                    time.sleep(0.001 * (attempt + 1))
            if e.state != _ENTRY_EMPTY:
                out.append(e)
        return out

    def objects(self):
        """Lists the segment's named objects as ObjectInfo tuples."""
        out = []
        for e in self._entries():
            code = n = None
            if e.kind in (_KIND_VALUE, _KIND_ARRAY) and e.state == _ENTRY_LIVE:
                try:
                    code, n = self._scalar_header(e)
                except KindError:
                    pass
            out.append(ObjectInfo(e.name, _kind_name(e.kind), e.length, code, n, e.state == _ENTRY_LIVE))
        return out

    def _scalar_header(self, e):
        return _scalar_header(bytes(self._buf[e.off:e.off + _DATA_OFFSET]), e.length, e)

    def _find(self, name, kind):
        for e in self._entries():
            if e.name != name:
                continue
            if e.kind != kind:
                raise KindError("object %r of segment %r is a %s, not a %s"
                                % (name, self.name, _kind_name(e.kind), _kind_name(kind)))
            if e.state != _ENTRY_LIVE:
                raise NotReadyError("object %r of segment %r is still being made" % (name, self.name))
            code, n = self._scalar_header(e)
            start = e.off + _DATA_OFFSET
            v = self._buf[start:start + n * struct.calcsize(code)].cast(code)
            self._views = [r for r in self._views if r() is not None]
            self._views.append(weakref.ref(v))
            return v
        raise KeyError("segment %r has no object %r" % (self.name, name))

    def array(self, name):
        """The elements of the Array called name: a memoryview of the
        shared memory, cast to the Array's type code, Len() items long."""
        return self._find(name, _KIND_ARRAY)

    def value(self, name):
        """The Value called name: a memoryview of one item, cast to its
        type code; v[0] loads it and v[0] = x stores it, each one machine
        access (see the module doc)."""
        return self._find(name, _KIND_VALUE)

    def ndarray(self, name):
        """The Array called name as a numpy array over the shared memory
        (numpy must be installed)."""
        try:
            import numpy
        except ImportError as e:
            raise ImportError("shmkit: ndarray needs numpy: %s" % e) from e
        v = self.array(name)
        return numpy.frombuffer(v, dtype={"c": "S1"}.get(v.format, v.format))

    def close(self):
        """Releases the views array() and value() gave (using one afterwards
        raises ValueError) and unmaps the segment. A view sliced from one,
        or a numpy array over one, must be gone first: close raises
        BufferError while one is alive, and can be called again once it is.
        Closing twice is not an error."""
        if self._buf is not None:
            for r in reversed(self._views):  # the segment's own view last
                v = r()
                if v is not None:
                    v.release()  # BufferError while a numpy array uses v
            self._buf = None
        if self._map is not None:
            self._map.close()  # BufferError while a slice of a view lives
            self._map = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "Segment(%r, %d bytes)" % (self.name, self._h.size)


def open(name, timeout=0.0):
    """Opens the shmkit segment called name (the file /dev/shm/<name>).

    It waits up to timeout seconds for a segment that does not exist yet or
    whose creator is still making it, then raises FileNotFoundError or
    NotReadyError. A file that is not a shmkit segment, or a damaged one,
    raises CorruptError; one of a newer format, VersionError."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ValueError("invalid segment name %r" % name)
    deadline = time.monotonic() + timeout
    delay = 0.001
    path = os.path.join(SHM_DIR, name)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.016)
            continue
        try:
            st = os.fstat(fd)
            if st.st_size < _HEADER_SIZE:
                raise CorruptError("%s: %d bytes, too small for a shmkit segment" % (path, st.st_size))
            m = mmap.mmap(fd, st.st_size)
        finally:
            os.close(fd)
        try:
            seg = Segment(m, name, _mmap=m, _file_size=st.st_size)
        except BaseException:
            m.close()
            raise
        while not seg.ready:
            if time.monotonic() >= deadline:
                seg.close()
                raise NotReadyError("segment %r: its creator (pid %d) is still making it"
                                    % (name, seg._h.creator_pid))
            time.sleep(0.005)
        return seg


if sys.byteorder != "little":
    raise ImportError("shmkit: shmkit segments are little endian; this machine is not")
