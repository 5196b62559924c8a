"""The Python side of TestPythonReadsGo: reads a job from stdin, checks
what shmkit.py lists and reads in the segment Go made, writes what the job
says, and prints a JSON report."""

import json
import sys

import shmkit

job = json.load(sys.stdin)
report = {"numpy": None}


def fail(msg):
    sys.exit("go_to_python: " + msg)


def expect(exc, f, *args):
    try:
        f(*args)
    except exc as e:
        return str(e)
    fail("%s%r raised nothing, want %s" % (f.__name__, args, exc.__name__))


with shmkit.open(job["segment"], timeout=10) as seg:
    listed = {o.name: o for o in seg.objects()}
    for name, (kind, code, length) in job["objects"].items():
        o = listed.pop(name, None)
        if o is None:
            fail("objects() lacks %r" % name)
        if (o.kind, o.code, o.length, o.ready) != (kind, code, length, True):
            fail("objects() gives %r, want kind %r, code %r, length %r" % (o, kind, code, length))
        if o.size < 64:
            fail("objects() gives %r, under the 64-byte header" % (o,))
    if listed:
        fail("objects() lists more: %r" % listed)

    for name, a in job["arrays"].items():
        v = seg.array(name)
        if v.format != a["code"] or v.tolist() != a["want"]:
            fail("array %r: %r %r, want %r %r" % (name, v.format, v.tolist(), a["code"], a["want"]))
        for i, x in enumerate(a["put"]):
            v[i] = x
    for name, a in job["values"].items():
        v = seg.value(name)
        if v.format != a["code"] or len(v) != 1 or v.nbytes != a["size"] or v[0] != a["want"]:
            fail("value %r: %r %r of %d bytes, want %r %r" % (name, v.format, v.tolist(), v.nbytes, a["code"], a["want"]))
        v[0] = a["put"]

    expect(shmkit.KindError, seg.value, job["struct"])
    expect(shmkit.KindError, seg.array, job["struct"])
    expect(shmkit.KindError, seg.value, next(iter(job["arrays"])))
    expect(shmkit.KindError, seg.array, next(iter(job["values"])))
    expect(KeyError, seg.array, "no such object")

    try:
        import numpy
    except ImportError as e:
        report["numpy"] = "numpy is not installed: %s" % e
    else:
        name, a = job["numpy"]
        arr = seg.ndarray(name)
        if arr.dtype != numpy.dtype(a["code"]) or arr.tolist() != a["put"]:
            fail("ndarray %r: %r %r" % (name, arr.dtype, arr.tolist()))
        arr *= 2
        del arr
        report["numpy"] = True

    # Torn reads: Go stores the two words in turn while this loads.
    name, words = job["torn"]
    v = seg.value(name)
    seen = set()
    for _ in range(job["loads"]):
        x = v[0]
        if x not in words:
            fail("value %r: loaded %#x, neither of %r" % (name, x, [hex(w) for w in words]))
        seen.add(x)
    report["seen"] = len(seen)
    del v

print(json.dumps(report))
