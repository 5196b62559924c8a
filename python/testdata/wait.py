"""The Python side of TestPythonWaitsForGo: opens the segment named by its
argument, which Go makes only later, and prints its Value "n"."""

import sys

import shmkit

print("waiting", flush=True)
with shmkit.open(sys.argv[1], timeout=60) as seg:
    n = seg.value("n")
    print(n[0])
try:
    n[0]
except ValueError:
    pass
else:
    sys.exit("wait: a view of a closed segment still reads")
