"""The Python side of TestGoReadsPython: makes shared memory with
multiprocessing.shared_memory (and a numpy array over a second one, when
numpy is installed) under the names given as arguments, writes into it,
says so on stdout, waits for a line on stdin (Go has read and written),
checks what Go wrote, and unlinks what it made."""

import json
import sys
from multiprocessing import shared_memory

name, np_name = sys.argv[1], sys.argv[2]
made = []

mem = shared_memory.SharedMemory(name=name, create=True, size=8 * 5)
made.append(mem)
doubles = mem.buf.cast("d")
for i, x in enumerate([0.5, -1.25, 3.0, 1e300, -0.0]):
    doubles[i] = x

report = {}
try:
    import numpy
except ImportError as e:
    report["numpy"] = "numpy is not installed: %s" % e
    ints = None
else:
    np_mem = shared_memory.SharedMemory(name=np_name, create=True, size=4 * 7)
    made.append(np_mem)
    ints = numpy.ndarray((7,), dtype=numpy.int32, buffer=np_mem.buf)
    ints[:] = numpy.arange(7, dtype=numpy.int32) * -3
    report["numpy"] = True

print(json.dumps(report), flush=True)
if sys.stdin.readline().strip() != "done":
    sys.exit("python_to_go: Go did not say done")

errors = []
if doubles.tolist() != [0.5, 42.0, 3.0, 1e300, -0.0]:
    errors.append("doubles after Go wrote: %r" % doubles.tolist())
if ints is not None and ints.tolist() != [0, -3, -6, -9, -12, -15, 7]:
    errors.append("numpy ints after Go wrote: %r" % ints.tolist())
doubles.release()
del ints
for m in made:
    m.close()
    m.unlink()
if errors:
    sys.exit("python_to_go: " + "; ".join(errors))
print("ok")
