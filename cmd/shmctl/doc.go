// Command shmctl inspects, watches and removes shmkit shared-memory
// segments, the named segments that package shm keeps in /dev/shm: what
// ipcs and ipcrm are to System V shared memory, and top to processes.
//
// Usage:
//
//	shmctl ls [-json]
//	shmctl info [-json] NAME
//	shmctl rm NAME...
//	shmctl gc [-n] [-json] [PATTERN...]
//	shmctl top [-n N] [-d DURATION] [-json] NAME...
//	shmctl help
//
// Flags go after the command (shmctl ls -json), before or after its
// arguments; "--" ends them, for a NAME that starts with '-'. -h after a
// command prints the usage.
//
// # ls
//
// ls lists every shmkit segment in /dev/shm, sorted by name: its size, the
// named objects in its directory against the directory's capacity, the heap
// bytes in use, the pid of its creator and whether that process is still
// running, whether the creator finished setting it up (ready), and when it
// was made. Files that are not shmkit segments are left out; a file that
// starts like a segment but whose header does not check out is listed with
// its error. With no segment, ls prints "no shmkit segments" on stderr (or
// an empty list with -json) and exits 0.
//
//	NAME     SIZE     OBJECTS  HEAP USED  CREATOR  ALIVE  READY  CREATED
//	orders   64.0MiB  3/1024   384B       4242     yes    yes    2025-01-02 15:04:05
//	scratch  1.0MiB   0/16     0B         4100     no     yes    2025-01-02 14:00:00
//	broken   -        -        -          -        -      -      error: shm: not a shmkit segment ...
//
// # info
//
// info shows one segment: its header (id, format version, size, creator pid
// and whether it is alive, ready, creation time, directory capacity, heap
// used and heap size), the processes other than shmctl that map it or hold
// it open, and each object of its directory: name, kind, payload length and
// offset, the layout fingerprint of its element type, whether it is ready
// (published) and the pid of its creator and whether it is alive. For a
// map or a list (package shmap) a line under the table says how many
// entries it holds and how large its table is.
//
// # rm
//
// rm removes the name of each segment from /dev/shm (shm.Unlink). Processes
// that map a segment keep using it; its memory is freed when the last one
// closes it. A file that does not start with the shmkit magic is refused
// and left in place; one that does but whose header is corrupted is
// removed (gc never removes those: rm is the way to clean them up). rm goes on past a failure, reports each on stderr, and exits with
// the highest exit code of its failures.
//
// # gc
//
// gc removes every segment whose creator is dead and that no live process
// maps or holds open: the segments left behind by processes that crashed or
// forgot to unlink them. It reports, for every segment, what it did and why:
//
//	removed       the creator is dead and no process uses it
//	would_remove  the same, with -n, which removes nothing
//	kept          the creator is alive, another process uses it, or the
//	              name was taken by another segment since it was checked
//	skipped       the header is bad: gc never removes what it cannot read
//	gone          another process removed it first
//	failed        the check or the removal failed (exit code 1)
//
// PATTERN arguments (path.Match syntax, e.g. 'myapp-*') limit gc to the
// segments whose names match one of them.
//
// # top
//
// top shows the metrics that the objects of the named segments keep in
// shared memory (shm.Metrics): the counts of what happened to each (messages
// pushed, lock sleeps, owner deaths) and gauges (a queue's depth), with, for
// each count, its rate per second since the previous refresh. It redraws
// the screen every -d (default 1s) until interrupted (SIGINT ends it with
// exit code 0), or -n times; when its output is not a terminal it prints
// screen after screen instead, as top -b does.
//
//	shmctl top  2025-01-02 15:04:05  every 1s
//
//	SEGMENT  OBJECT    KIND   METRIC  VALUE   RATE/S
//	orders   incoming  queue  pushed  123456  1024.0
//	orders   incoming  queue  depth   56      -
//	orders   buf       bytes  -       -       -
//
// A rate needs two readings: the first screen has none, and gauges never
// have one. An object whose kind no package linked into shmctl reads shows
// its kind only; one still being made shows "not ready". Objects freed while
// top runs drop out and new ones appear; a segment removed shows its error
// and is read again if a segment is made under its name (counts start
// afresh: no rate spans two segments or two objects). A NAME that cannot be
// read at the start fails top with the exit code below.
//
// -json prints one snapshot and exits: it reads twice, -d apart, to give
// rates (with -d 0, once, without rates).
//
// # JSON
//
// With -json, output is one JSON object on stdout; field names are stable.
// Sizes are bytes, ids and fingerprints are 16 lowercase hex digits, times
// are RFC 3339 in UTC with nanoseconds.
//
// A segment (ls's "segments" array, info's "segment"):
//
//	name           the name under /dev/shm
//	size           total bytes, header included
//	id             the segment's random identity
//	version        format version of its header
//	creator_pid    pid of the process that created it
//	creator_alive  whether that process may still run (see Caveats)
//	ready          false while the creator is still setting it up
//	created        creation time
//	objects        named objects in the directory
//	max_objects    directory capacity
//	heap_used      bytes from the heap's start to its top
//	heap_size      bytes the heap may grow to
//	error          only for a file whose header is bad; the other fields are
//	               then zero or empty
//
// ls -json prints {"segments": [segment...]}.
//
// info -json prints {"segment": segment, "objects": [object...], "users":
// [pid...]}, where an object is:
//
//	name           the object's name
//	kind           its kind: bytes, value, array, mutex, rlock, semaphore,
//	               cond, event, barrier, ring, queue, pipe, map, list,
//	               table, or Kind(N)
//	kind_code      the kind's number in the segment format
//	length         payload bytes
//	offset         payload offset from the segment's start
//	fingerprint    layout fingerprint of its element type
//	ready          false while its creator is still initializing it
//	creator_pid    pid of the process that created it
//	creator_alive  whether that process still runs
//	contents       for a map or a list: its entries and table, in words
//
// top -json prints {"time": RFC 3339, "interval": seconds between the two
// readings (0 with -d 0), "segments": [top segment...]}, where a top
// segment is {"name", "id", "objects": [top object...], "error"} and a top
// object is:
//
//	name     the object's name
//	kind     its kind, as in info
//	ready    false while its creator is still initializing it
//	metrics  [{"name", "help", "value", "gauge", "rate"}...] in the order
//	         its kind gives them; absent when no reader knows its kind;
//	         rate (per second) only for counts, and only over an interval
//	error    why its metrics could not be read, if so
//
// gc -json prints {"dry_run": bool, "segments": [result...]}, where a result
// is {"name", "action", "reason", "creator_pid", "users", "error"}: action
// is one of the words above, reason says why in words, users (pids) is
// there when other processes kept the segment, error when the header is bad
// or an operation failed.
//
// # Exit codes
//
//	0  success (gc skipping or keeping segments is success, and so is top
//	   ended by SIGINT)
//	1  an operation failed: I/O, permission, a corrupted directory, a system
//	   shmkit does not support
//	2  usage error: unknown command, bad flag, missing or invalid NAME
//	3  a named segment does not exist
//	4  the name exists but is not a valid shmkit segment (bad header, or a
//	   format version other than this build's)
//
// rm with several names exits with the highest code among its failures.
//
// # Caveats
//
//   - gc's "no process uses it" is a snapshot of /proc (every process's maps
//     and open descriptors): a process may open the segment between the
//     check and the removal. gc reads the segment's id again just before
//     removing it, so a segment created anew under the same name is kept,
//     but the window is not closed. A process that already mapped a
//     removed segment keeps working; only opening it by name fails.
//   - A process attached to a segment through shmkit is seen in any pid
//     namespace (containers sharing /dev/shm): each holds an OFD lock on
//     the segment's file, which gc and info ask the kernel about (see
//     Liveness in package shm's doc). Other programs mapping the file are
//     seen through /proc, and only those this user may inspect, in this
//     pid namespace: run gc as the user that runs them, or as root.
//   - A creator is "alive" if it is attached to the segment, or if a
//     process with its pid runs in this pid namespace (that errs toward
//     keeping: a pid is reused); a zombie counts as dead. users lists
//     attached processes by the pid each sees itself as.
//   - info reads the header and the directory without the segment's lock:
//     figures of a segment in use may be a moment old, and the directory
//     is read just after the header.
//   - top keeps the segments it watches open, so that info and gc list it
//     among their users meanwhile. It reads the figures while the
//     processes go on, without taking any lock: two figures of one object
//     may be a moment apart.
//   - Only Linux on amd64 and arm64 is implemented; elsewhere every command
//     reports that shmkit is not supported and exits 1.
package main
