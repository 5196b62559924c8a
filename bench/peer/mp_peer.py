"""mp_peer.py: the Python multiprocessing peers of shmkit's benchmarks.

    python3 mp_peer.py FIGURE N

runs one figure and prints one line, "FIGURE VALUE UNIT":

    locked_value    two processes each add 1 to a multiprocessing.Value('q')
                    under its get_lock(), N times each; VALUE is increments
                    per second over both (2N in all), unit ops/s.
    event_pingpong  two processes take turns N times through two
                    multiprocessing.Event (set, wait, clear); VALUE is the
                    round trip in microseconds, unit us.
    pipe_rtt        one byte goes to the other process and back through a
                    multiprocessing.Pipe, N times; VALUE is the round trip in
                    microseconds, unit us.
    queue           one process puts the ints 0 to N-1 on a
                    multiprocessing.Queue, another gets them (one producer,
                    one consumer); VALUE is messages per second, unit msg/s.
    array_copy      one process copies a multiprocessing.Array('B') of
                    1 MiB into a new bytes object under its get_lock(),
                    N times; VALUE is bytes copied per second in units of
                    10^9, unit GB/s.
    start_join_fork N times in turn, a multiprocessing.Process running a
                    function that does nothing is started and joined; VALUE
                    is milliseconds per start and join, unit ms.
    start_join_spawn
                    the same with the spawn start method (a new interpreter
                    each time), unit ms.
    pool_apply      pool.apply of a function that returns its argument, on
                    a multiprocessing.Pool(2), N times after WARMUP untimed
                    calls; VALUE is the round trip in microseconds, unit us.
    pool_map        pool.map(square, range(N)) on a Pool(2), with the
                    default chunks (N / 8 items each, rounded up), after an
                    untimed map of WARMUP items; VALUE is items per second,
                    unit item/s.
    pool_map_chunk1 the same with chunksize=1: each item is a task of its
                    own, unit item/s.
    manager_dict    two processes each set N keys of their own (ints, to
                    ints) in one multiprocessing.Manager().dict(), then get
                    them back (N sets, then N gets, each a round trip to the
                    manager's server process), after WARMUP untimed gets
                    each; VALUE is operations per second
                    over both (4N in all), unit ops/s.

Processes are made with the fork start method (but for start_join_spawn),
so that starting them costs little and the timing covers only the exchange:
the clock starts once both processes are running (the pool figures: once
the pool is made and warmed up). Pool calls wait through their async form
with a timeout (apply_async(...).get(TIMEOUT) is what apply does, with a
bound). The helper process never waits longer than TIMEOUT
for its peer, so that a killed parent leaves no process behind for long.
Any failure exits non-zero with a message on stderr. The helper process
waits in slices of SLICE seconds and ends when its parent is gone, so that
killing the script leaves nothing running for long; a pool worker has a
thread that checks every SLICE seconds that its parent lives.
"""

import multiprocessing
import os
import sys
import threading
import time

TIMEOUT = 60.0  # seconds; a hang detector, never reached in a healthy run
SLICE = 0.5  # seconds; how soon a helper notices that its parent is gone
WARMUP = 10  # untimed rounds of the ping-pong figures


def die(msg):
    print("mp_peer.py: " + msg, file=sys.stderr)
    sys.exit(1)


def _wait(ready, parent):
    """Waits in the helper for ready(timeout) to be true; False when the
    parent is gone or TIMEOUT passed."""
    deadline = time.monotonic() + TIMEOUT
    while not ready(SLICE):
        if os.getppid() != parent or time.monotonic() > deadline:
            return False
    return True


def _add(counter, n, ready, go, done, parent):
    ready.set()
    if not _wait(go.wait, parent):
        return
    lock = counter.get_lock()
    for _ in range(n):
        with lock:
            counter.value += 1
    done.set()


def locked_value(ctx, n):
    counter = ctx.Value("q", 0)
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    child = ctx.Process(target=_add, args=(counter, n, ready, go, done, os.getpid()), daemon=True)
    child.start()
    if not ready.wait(TIMEOUT):
        die("locked_value: the other process did not start")
    go.set()
    t0 = time.perf_counter()
    lock = counter.get_lock()
    for _ in range(n):
        with lock:
            counter.value += 1
    if not done.wait(TIMEOUT):
        die("locked_value: the other process did not finish")
    elapsed = time.perf_counter() - t0
    child.join(TIMEOUT)
    if counter.value != 2 * n:
        die("locked_value: counter is %d, want %d" % (counter.value, 2 * n))
    return 2 * n / elapsed, "ops/s"


def _answer(ping, pong, rounds, parent):
    for _ in range(rounds):
        if not _wait(ping.wait, parent):
            return
        ping.clear()
        pong.set()


def event_pingpong(ctx, n):
    ping, pong = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_answer, args=(ping, pong, WARMUP + n, os.getpid()), daemon=True)
    child.start()

    def rounds(k):
        for _ in range(k):
            ping.set()
            if not pong.wait(TIMEOUT):
                die("event_pingpong: no answer")
            pong.clear()

    rounds(WARMUP)
    t0 = time.perf_counter()
    rounds(n)
    elapsed = time.perf_counter() - t0
    child.join(TIMEOUT)
    return elapsed / n * 1e6, "us"


def _echo(conn, rounds, parent):
    for _ in range(rounds):
        if not _wait(conn.poll, parent):
            return
        conn.send_bytes(conn.recv_bytes())


def pipe_rtt(ctx, n):
    here, there = ctx.Pipe()
    child = ctx.Process(target=_echo, args=(there, WARMUP + n, os.getpid()), daemon=True)
    child.start()
    there.close()
    msg = b"x"

    def rounds(k):
        for _ in range(k):
            here.send_bytes(msg)
            if not here.poll(TIMEOUT):
                die("pipe_rtt: no answer")
            here.recv_bytes()

    rounds(WARMUP)
    t0 = time.perf_counter()
    rounds(n)
    elapsed = time.perf_counter() - t0
    child.join(TIMEOUT)
    return elapsed / n * 1e6, "us"


def _put(q, n, ready, go, done, parent):
    ready.set()
    if not _wait(go.wait, parent):
        q.cancel_join_thread()
        return
    for i in range(n):
        q.put(i)
    # The queue's feeder thread writes to a pipe that only the parent
    # drains: wait until it has, or let the thread go if the parent is gone.
    if not _wait(done.wait, parent):
        q.cancel_join_thread()


def queue(ctx, n):
    q = ctx.Queue()
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    child = ctx.Process(target=_put, args=(q, n, ready, go, done, os.getpid()), daemon=True)
    child.start()
    if not ready.wait(TIMEOUT):
        die("queue: the other process did not start")
    go.set()
    t0 = time.perf_counter()
    for i in range(n):
        try:
            v = q.get(timeout=TIMEOUT)
        except Exception as e:
            die("queue: no message %d: %r" % (i, e))
        if v != i:
            die("queue: message %d is %r" % (i, v))
    elapsed = time.perf_counter() - t0
    done.set()
    child.join(TIMEOUT)
    return n / elapsed, "msg/s"


ARRAY_BYTES = 1 << 20  # the size of array_copy's array


def array_copy(ctx, n):
    arr = ctx.Array("B", ARRAY_BYTES)
    lock, raw = arr.get_lock(), arr.get_obj()
    raw[ARRAY_BYTES - 1] = 7

    def rounds(k):
        for _ in range(k):
            with lock:
                b = memoryview(raw).tobytes()
            if len(b) != ARRAY_BYTES or b[-1] != 7:
                die("array_copy: copied %d bytes ending in %d" % (len(b), b[-1]))

    rounds(WARMUP)
    t0 = time.perf_counter()
    rounds(n)
    elapsed = time.perf_counter() - t0
    return ARRAY_BYTES * n / elapsed / 1e9, "GB/s"


def _noop():
    pass


def start_join(ctx, n):
    t0 = time.perf_counter()
    for i in range(n):
        p = ctx.Process(target=_noop)
        p.start()
        p.join(TIMEOUT)
        if p.exitcode != 0:
            die("start_join: process %d ended with exit code %r" % (i, p.exitcode))
    elapsed = time.perf_counter() - t0
    return elapsed / n * 1e3, "ms"


def _watch_parent(parent):
    """A pool worker's initializer: ends the worker once its parent is
    gone (a pool worker would wait for its next task for good)."""

    def watch():
        while os.getppid() == parent:
            time.sleep(SLICE)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _pool(ctx):
    return ctx.Pool(2, initializer=_watch_parent, initargs=(os.getpid(),))


def _identity(x):
    return x


def _square(x):
    return x * x


def pool_apply(ctx, n):
    with _pool(ctx) as pool:

        def rounds(k):
            for i in range(k):
                v = pool.apply_async(_identity, (i,)).get(TIMEOUT)
                if v != i:
                    die("pool_apply: apply(%d) = %r" % (i, v))

        rounds(WARMUP)
        t0 = time.perf_counter()
        rounds(n)
        elapsed = time.perf_counter() - t0
    return elapsed / n * 1e6, "us"


def _map(ctx, n, chunksize):
    with _pool(ctx) as pool:
        pool.map_async(_square, range(WARMUP)).get(TIMEOUT)
        t0 = time.perf_counter()
        r = pool.map_async(_square, range(n), chunksize).get(TIMEOUT)
        elapsed = time.perf_counter() - t0
    if len(r) != n or any(v != i * i for i, v in enumerate(r)):
        die("pool_map: wrong results")
    return n / elapsed, "item/s"


def pool_map(ctx, n):
    return _map(ctx, n, None)


def pool_map_chunk1(ctx, n):
    return _map(ctx, n, 1)


def _dict_ops(d, first, n):
    """n sets of the keys first, first+2, ... then n gets of them; None
    when all were right, else what was wrong."""
    for i in range(n):
        k = first + 2 * i
        d[k] = -k
    for i in range(n):
        k = first + 2 * i
        v = d[k]
        if v != -k:
            return "d[%d] = %r" % (k, v)
    return None


def _dict_warmup(d):
    """Untimed gets: the first call of a process's proxy connects it to
    the manager's server."""
    for i in range(WARMUP):
        d.get(-1 - i)


def _dict_user(d, n, ready, go, done, parent):
    _dict_warmup(d)
    ready.set()
    if not _wait(go.wait, parent):
        return
    err = _dict_ops(d, 1, n)
    if err is None:
        done.set()


def manager_dict(ctx, n):
    from multiprocessing.managers import SyncManager

    mgr = SyncManager(ctx=ctx)
    # The server process ends once this one is gone, as a pool worker does.
    mgr.start(_watch_parent, (os.getpid(),))
    try:
        d = mgr.dict()
        ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
        child = ctx.Process(target=_dict_user, args=(d, n, ready, go, done, os.getpid()), daemon=True)
        child.start()
        if not ready.wait(TIMEOUT):
            die("manager_dict: the other process did not start")
        _dict_warmup(d)
        go.set()
        t0 = time.perf_counter()
        err = _dict_ops(d, 0, n)
        if err is not None:
            die("manager_dict: " + err)
        if not done.wait(TIMEOUT):
            die("manager_dict: the other process did not finish, or read a wrong value")
        elapsed = time.perf_counter() - t0
        child.join(TIMEOUT)
        if len(d) != 2 * n:
            die("manager_dict: %d keys, want %d" % (len(d), 2 * n))
    finally:
        mgr.shutdown()
    return 4 * n / elapsed, "ops/s"


FIGURES = {
    "locked_value": locked_value,
    "event_pingpong": event_pingpong,
    "pipe_rtt": pipe_rtt,
    "array_copy": array_copy,
    "queue": queue,
    "start_join_fork": start_join,
    "start_join_spawn": start_join,
    "pool_apply": pool_apply,
    "pool_map": pool_map,
    "pool_map_chunk1": pool_map_chunk1,
    "manager_dict": manager_dict,
}

# The start method of a figure, when not fork.
METHODS = {"start_join_spawn": "spawn"}


def main(argv):
    if len(argv) != 3 or argv[1] not in FIGURES:
        die("usage: mp_peer.py {%s} N" % "|".join(sorted(FIGURES)))
    try:
        n = int(argv[2])
    except ValueError:
        n = 0
    if n < 1:
        die("N must be a positive integer, not %r" % argv[2])
    ctx = multiprocessing.get_context(METHODS.get(argv[1], "fork"))
    value, unit = FIGURES[argv[1]](ctx, n)
    print("%s %.3f %s" % (argv[1], value, unit), flush=True)


if __name__ == "__main__":
    main(sys.argv)
