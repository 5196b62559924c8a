//go:build ignore

// ceiling.c: the machine's ceiling for talking across processes, measured
// with nothing in the way, for shmbench to put shmkit's figures beside.
//
//   ceiling SECONDS REPS [ring] [ring1] [spin] [futex] [memcpy]
//
// runs each figure named (all five when none is) REPS times for SECONDS
// each (after a shorter one that warms up) and prints what each repetition
// measured, in order, as one "NAME VALUE..." line;
//
//   ceiling SECONDS serve
//
// reads figure names, one a line, from stdin until its end, and for each
// runs one repetition (after its warm-up) and prints its "NAME VALUE"
// line: so that shmbench runs a repetition of the ceiling between two of
// shmkit's. Each repetition forks its own child, which is gone before the
// line is printed: nothing of the program runs between two lines.
//
// The figures:
//
//   ceiling_ring_msgs_per_s  an SPSC ring of 8-byte messages between two
//                            processes, cursors published once per batch
//   ceiling_ring1_msgs_per_s the same ring moving one message per call of
//                            its push and pop, each publishing its cursor
//   ceiling_spin_rtt_ns      a round trip between two processes that spin
//                            on one shared word
//   ceiling_futex_rtt_ns     a round trip between two processes that sleep
//                            in FUTEX_WAIT on one shared word until woken
//   memcpy_64k_gb_per_s      memcpy of a 64 KiB block in cache, one
//                            process, in 10^9 bytes per second
//
// The processes share memory mapped MAP_SHARED|MAP_ANONYMOUS before fork.
// A child dies with its parent (PR_SET_PDEATHSIG), so that killing this
// program leaves nothing spinning. Any failure exits non-zero with a
// message on stderr.
//
// The go:build line keeps the go command from taking this file for cgo:
// shmbench embeds it and compiles it with the system's C compiler.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds; // of each repetition
static int reps;        // at most maxReps
enum { maxReps = 99 };

// report prints the figure name's line: the n values of v.
static void report(const char *name, const double *v, int n) {
	printf("%s", name);
	for (int i = 0; i < n; i++) printf(" %.6g", v[i]);
	printf("\n");
}

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what) {
	fprintf(stderr, "ceiling: %s\n", what);
	exit(1);
}

static void *shared(size_t n) {
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap failed");
	return p;
}

// child forks; in the child it arranges to die with the parent.
static pid_t child(void) {
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) die("fork failed");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) _exit(1); // the parent died before prctl
	}
	return pid;
}

// reap waits for pid and fails unless it exited 0.
static void reap(pid_t pid, const char *what) {
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) die(what);
}

static long futex(atomic_uint *a, int op, int v) {
	return syscall(SYS_futex, a, op, v, NULL, NULL, 0);
}

// The ring: one producer, one consumer, 8-byte messages. Each side
// publishes its cursor once per batch (of up to 4096 messages: the fastest
// of 256 to 64 Ki on a 2-core EPYC), and each cursor has a cache line of its
// own, so that a cursor crosses between the cores once per batch.
enum { ringSize = 1 << 16, ringMask = ringSize - 1, batch = 4096 };

struct ring {
	_Alignas(64) atomic_ulong tail; // written by the producer
	_Alignas(64) atomic_ulong head; // written by the consumer
	_Alignas(64) atomic_ulong end;  // the last tail, once the producer is done
	atomic_int done;
	_Alignas(64) uint64_t buf[ringSize];
};

static void ring(void) {
	struct ring *r = shared(sizeof *r);
	pid_t pid = child();
	if (pid == 0) { // the consumer: takes what was published, checks it
		unsigned long h = 0;
		uint64_t sum = 0;
		for (;;) {
			unsigned long t = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (t - h > batch) t = h + batch;
			for (; h < t; h++) sum += r->buf[h & ringMask];
			atomic_store_explicit(&r->head, h, memory_order_release);
			if (atomic_load_explicit(&r->done, memory_order_acquire) &&
			    h == atomic_load_explicit(&r->end, memory_order_relaxed)) break;
		}
		// 0 + 1 + ... + (h-1), modulo 2^64 as sum is: halve the even
		// factor first, so that the product wraps as the sum does.
		uint64_t want = h % 2 == 0 ? (uint64_t)(h / 2) * (h - 1) : (uint64_t)h * ((h - 1) / 2);
		_exit(sum == want ? 0 : 2);
	}
	double got[maxReps];
	unsigned long t = 0;
	for (int k = 0; k <= reps; k++) { // repetition 0 warms up
		double limit = k == 0 ? seconds / 4 : seconds;
		unsigned long t0 = t;
		double start = now(), dt;
		do {
			unsigned long lim = atomic_load_explicit(&r->head, memory_order_acquire) + ringSize;
			if (lim - t > batch) lim = t + batch;
			for (; t < lim; t++) r->buf[t & ringMask] = t;
			atomic_store_explicit(&r->tail, t, memory_order_release);
		} while ((dt = now() - start) < limit);
		while (atomic_load_explicit(&r->head, memory_order_acquire) != t) {
		}
		dt = now() - start;
		double rate = (double)(t - t0) / dt;
		if (k > 0) got[k - 1] = rate;
	}
	atomic_store_explicit(&r->end, t, memory_order_relaxed);
	atomic_store_explicit(&r->done, 1, memory_order_release);
	reap(pid, "ring: the consumer failed (lost or corrupted messages)");
	report("ceiling_ring_msgs_per_s", got, reps);
}

// The ring one message per call: push1 and pop1 move one message and
// publish their cursor at once, each a call of its own (noinline: the
// compiler may not merge the calls of a loop into a batch), each keeping
// the other side's cursor as it last saw it and reading it again only
// when that says full or empty: what a library's Push and Pop of one
// message at best do.
__attribute__((noinline)) static int push1(struct ring *r, unsigned long *t, unsigned long *seen, uint64_t v) {
	if (*t - *seen >= ringSize) {
		*seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (*t - *seen >= ringSize) return 0;
	}
	r->buf[*t & ringMask] = v;
	++*t;
	atomic_store_explicit(&r->tail, *t, memory_order_release);
	return 1;
}

__attribute__((noinline)) static int pop1(struct ring *r, unsigned long *h, unsigned long *seen, uint64_t *v) {
	if (*h == *seen) {
		*seen = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (*h == *seen) return 0;
	}
	*v = r->buf[*h & ringMask];
	++*h;
	atomic_store_explicit(&r->head, *h, memory_order_release);
	return 1;
}

static void ring1(void) {
	struct ring *r = shared(sizeof *r);
	pid_t pid = child();
	if (pid == 0) { // the consumer: pops until the producer is done, checks
		unsigned long h = 0, seen = 0;
		uint64_t sum = 0, v;
		for (;;) {
			if (pop1(r, &h, &seen, &v)) {
				sum += v;
				continue;
			}
			if (atomic_load_explicit(&r->done, memory_order_acquire) &&
			    h == atomic_load_explicit(&r->end, memory_order_relaxed)) break;
		}
		uint64_t want = h % 2 == 0 ? (uint64_t)(h / 2) * (h - 1) : (uint64_t)h * ((h - 1) / 2);
		_exit(sum == want ? 0 : 2);
	}
	enum { group = 1024 }; // pushes between two looks at the clock
	double got[maxReps];
	unsigned long t = 0, seen = 0;
	for (int k = 0; k <= reps; k++) { // repetition 0 warms up
		double limit = k == 0 ? seconds / 4 : seconds;
		unsigned long t0 = t;
		double start = now(), dt;
		do {
			for (int i = 0; i < group; i++) {
				while (!push1(r, &t, &seen, t)) {
				}
			}
		} while ((dt = now() - start) < limit);
		while (atomic_load_explicit(&r->head, memory_order_acquire) != t) {
		}
		dt = now() - start;
		double rate = (double)(t - t0) / dt;
		if (k > 0) got[k - 1] = rate;
	}
	atomic_store_explicit(&r->end, t, memory_order_relaxed);
	atomic_store_explicit(&r->done, 1, memory_order_release);
	reap(pid, "ring1: the consumer failed (lost or corrupted messages)");
	report("ceiling_ring1_msgs_per_s", got, reps);
}

// A ping-pong's shared words: the parent writes 2i+1 to turn, the child
// answers 2i+2 (unsigned, so that the count may wrap); stop ends the child.
struct pingpong {
	atomic_uint turn;
	atomic_int stop;
};

// The spin ping-pong: both sides spin on the word. Rounds run in groups
// between looks at the clock.
static void spin(void) {
	struct pingpong *p = shared(4096);
	pid_t pid = child();
	if (pid == 0) {
		unsigned want = 1;
		for (;;) {
			if (atomic_load_explicit(&p->turn, memory_order_acquire) == want) {
				atomic_store_explicit(&p->turn, want + 1, memory_order_release);
				want += 2;
			} else if (atomic_load_explicit(&p->stop, memory_order_relaxed)) {
				_exit(0);
			}
		}
	}
	enum { group = 256 };
	double got[maxReps];
	unsigned v = 0;
	for (int k = 0; k <= reps; k++) { // repetition 0 warms up
		double limit = k == 0 ? seconds / 4 : seconds;
		long n = 0;
		double start = now(), dt;
		do {
			for (int i = 0; i < group; i++) {
				atomic_store_explicit(&p->turn, v + 1, memory_order_release);
				while (atomic_load_explicit(&p->turn, memory_order_acquire) != v + 2) {
				}
				v += 2;
			}
			n += group;
		} while ((dt = now() - start) < limit);
		double rtt = dt / (double)n * 1e9;
		if (k > 0) got[k - 1] = rtt;
	}
	atomic_store(&p->stop, 1);
	reap(pid, "spin: the child failed");
	report("ceiling_spin_rtt_ns", got, reps);
}

// The futex ping-pong: as spin, but a side whose turn has not come sleeps
// in FUTEX_WAIT on the word until the other wakes it with FUTEX_WAKE.
static void futex_pingpong(void) {
	struct pingpong *p = shared(4096);
	pid_t pid = child();
	if (pid == 0) {
		unsigned want = 1;
		for (;;) {
			unsigned v = atomic_load(&p->turn);
			if (atomic_load(&p->stop)) _exit(0);
			if (v != want) {
				futex(&p->turn, FUTEX_WAIT, (int)v);
				continue;
			}
			atomic_store(&p->turn, want + 1);
			futex(&p->turn, FUTEX_WAKE, 1);
			want += 2;
		}
	}
	enum { group = 16 };
	double got[maxReps];
	unsigned v = 0;
	for (int k = 0; k <= reps; k++) {
		double limit = k == 0 ? seconds / 4 : seconds;
		long n = 0;
		double start = now(), dt;
		do {
			for (int i = 0; i < group; i++) {
				atomic_store(&p->turn, v + 1);
				futex(&p->turn, FUTEX_WAKE, 1);
				unsigned w;
				while ((w = atomic_load(&p->turn)) != v + 2) futex(&p->turn, FUTEX_WAIT, (int)w);
				v += 2;
			}
			n += group;
		} while ((dt = now() - start) < limit);
		double rtt = dt / (double)n * 1e9;
		if (k > 0) got[k - 1] = rtt;
	}
	atomic_store(&p->stop, 1);
	atomic_fetch_add(&p->turn, 2); // changes the word the child may sleep on
	futex(&p->turn, FUTEX_WAKE, 1);
	reap(pid, "futex: the child failed");
	report("ceiling_futex_rtt_ns", got, reps);
}

// memcpy of a 64 KiB block that stays in cache, in one process.
static void copy(void) {
	enum { size = 64 << 10, group = 64 };
	char *x = malloc(size), *y = malloc(size);
	if (x == NULL || y == NULL) die("malloc failed");
	memset(x, 1, size);
	memset(y, 2, size);
	double got[maxReps];
	long sink = 0;
	for (int k = 0; k <= reps; k++) {
		double limit = k == 0 ? seconds / 4 : seconds;
		long n = 0;
		double start = now(), dt;
		do {
			for (int i = 0; i < group; i++) {
				memcpy(y, x, size);
				__asm__ volatile("" ::: "memory"); // the copy is not dead
				sink += y[(n + i) & (size - 1)];
			}
			n += group;
		} while ((dt = now() - start) < limit);
		double rate = (double)n * size / dt / 1e9;
		if (k > 0) got[k - 1] = rate;
	}
	if (sink == 42) puts("");
	free(x);
	free(y);
	report("memcpy_64k_gb_per_s", got, reps);
}

int main(int argc, char **argv) {
	if (argc < 3) die("usage: ceiling SECONDS REPS [ring] [ring1] [spin] [futex] [memcpy] | ceiling SECONDS serve");
	seconds = atof(argv[1]);
	int serve = strcmp(argv[2], "serve") == 0;
	reps = serve ? 1 : atoi(argv[2]);
	if (!(seconds > 0) || reps < 1 || reps > maxReps) die("SECONDS must be > 0 and REPS 1 to 99");
	setvbuf(stdout, NULL, _IOLBF, 0);
	static const struct {
		const char *name;
		void (*run)(void);
	} figures[] = {{"ring", ring}, {"ring1", ring1}, {"spin", spin}, {"futex", futex_pingpong}, {"memcpy", copy}};
	int n = sizeof figures / sizeof figures[0];
	if (serve) {
		if (argc != 3) die("usage: ceiling SECONDS serve");
		char line[64];
		while (fgets(line, sizeof line, stdin) != NULL) {
			line[strcspn(line, "\r\n")] = 0;
			int i = 0;
			while (i < n && strcmp(line, figures[i].name) != 0) i++;
			if (i == n) die("unknown figure");
			figures[i].run();
		}
		return 0;
	}
	if (argc == 3) {
		for (int i = 0; i < n; i++) figures[i].run();
		return 0;
	}
	for (int a = 3; a < argc; a++) {
		int i = 0;
		while (i < n && strcmp(argv[a], figures[i].name) != 0) i++;
		if (i == n) die("unknown figure");
		figures[i].run();
	}
	return 0;
}
