//go:build linux && (amd64 || arm64)

package process

// Kill tests of Pool: workers die by SIGKILL or os.Exit in the middle of
// tasks, by their own hand at chosen items or by the test's at random
// moments, while their initializer blocks, while the pool closes, in the
// middle of a chunk; and a pool's parent is SIGKILLed. Each time the tasks
// the dead worker held fail with ErrWorkerDied, every other task succeeds
// with its value, the pool replaces the worker and finishes, and no worker
// process is left once the pool is joined.
//
// A task records in shared arrays the pid of the worker that started it and
// whether its function returned, so that a failure can be laid at the door
// of the worker that held the task: the error names that worker's pid.
//
// Counts: 100 self-inflicted SIGKILLs and 100 external ones (40 and 40
// under -race, where a worker's start costs about four times as much), 10
// exits, 3 kills in initializers, 2 while closing, 6 mid-chunk. The file
// takes about 6 s, and 11 s under -race, on 2 cores. Every wait is bounded
// by the hang guard; no check depends on speed.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmkit/shmkit/array"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/semaphore"
	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/value"
)

// What pkTask does after it records its start.
const (
	pkReturn  = iota // returns pkValue(I), after SleepUS
	pkSigkill        // SIGKILLs its own process
	pkExit7          // os.Exit(7)
	pkBlock          // waits for Gate, then returns pkValue(I)
)

// pkArg is the argument of pkTask: item I, what to do, and where to
// record that it started (the worker's pid) and that it finished (1).
type pkArg struct {
	I        int
	How      int
	SleepUS  int
	Started  *array.Array[int32]
	Finished *array.Array[int32]
	Gate     *semaphore.Event
}

// pkKills is how many workers TestPoolKillSelf and TestPoolKillRandom
// kill: 100, and 40 under the race detector, where a worker's start costs
// four times as much.
func pkKills() int {
	if raceEnabled {
		return 40
	}
	return 100
}

func pkValue(i int) int64 { return int64(i)*3 + 1 }

var pkTask = RegisterFunc("pk.task", func(ctx context.Context, a pkArg) (int64, error) {
	a.Started.Set(a.I, int32(os.Getpid()))
	switch a.How {
	case pkSigkill:
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		time.Sleep(childLife)
		return 0, errors.New("survived its own SIGKILL")
	case pkExit7:
		os.Exit(7)
	case pkBlock:
		life, cancel := context.WithTimeout(ctx, childLife)
		defer cancel()
		if err := a.Gate.Wait(life); err != nil {
			return 0, err
		}
	}
	if a.SleepUS > 0 {
		time.Sleep(time.Duration(a.SleepUS) * time.Microsecond)
	}
	if a.Finished != nil {
		a.Finished.Set(a.I, 1)
	}
	return pkValue(a.I), nil
})

// pkInitArg drives pkInit: it counts its runs in Count and blocks until
// Gate is set.
type pkInitArg struct {
	Count *value.Value[int64]
	Gate  *semaphore.Event
}

var pkInit = Register("pk.init", func(ctx context.Context, a pkInitArg) error {
	a.Count.Add(1)
	life, cancel := context.WithTimeout(ctx, childLife)
	defer cancel()
	return a.Gate.Wait(life)
})

// pkRec is the shared record of n items, made before the pool so that
// its workers inherit the heap segment that holds it.
type pkRec struct {
	Started, Finished *array.Array[int32]
}

func pkNewRec(t *testing.T, n int) pkRec {
	t.Helper()
	var r pkRec
	var err error
	if r.Started, err = array.New[int32](n); err != nil {
		t.Fatal(err)
	}
	if r.Finished, err = array.New[int32](n); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r pkRec) arg(i, how int) pkArg {
	return pkArg{I: i, How: how, Started: r.Started, Finished: r.Finished}
}

// pkNewPool makes a pool that is Terminated and Joined when the test ends,
// unless the test joined it.
func pkNewPool(t *testing.T, n int, opts *PoolOptions) *Pool {
	t.Helper()
	p, err := NewPool(n, opts)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.Terminate()
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		if err := p.Join(ctx); err != nil {
			t.Errorf("Join after Terminate: %v", err)
		}
	})
	return p
}

// pkStarted adds to pids those that started the first n items of rec,
// and more, and returns it.
func pkStarted(pids map[int]bool, rec pkRec, n int, more ...int) map[int]bool {
	for i := range n {
		pids[int(rec.Started.At(i))] = true
	}
	for _, pid := range more {
		pids[pid] = true
	}
	return pids
}

// pkCloseJoin closes and joins p, and checks that none of pids is still a
// process of ours (a worker not reaped, or one still running).
func pkCloseJoin(t *testing.T, p *Pool, pids map[int]bool) {
	t.Helper()
	p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := p.Join(ctx); err != nil {
		t.Fatalf("Join after Close: %v", err)
	}
	for _, pid := range p.Pids() {
		pids[pid] = true
	}
	pkNoneAlive(t, pids)
}

// pkNoneAlive fails the test for each pid that is still a child of this
// process, running or a zombie.
func pkNoneAlive(t *testing.T, pids map[int]bool) {
	t.Helper()
	var alive []string
	for pid := range pids {
		if pid == 0 {
			continue
		}
		if st, err := readStat(pid); err == nil && st.ppid == os.Getpid() {
			alive = append(alive, fmt.Sprintf("%d (state %c)", pid, st.state))
		}
	}
	if len(alive) > 0 {
		slices.Sort(alive)
		t.Errorf("after Join, %d pool workers are still there: %v", len(alive), alive)
	}
}

// pkCollect runs an Imap loop over n items and returns each item's result
// and error; a yield past the n-th (the loop's own error) fails the test.
func pkCollect(t *testing.T, seq iter.Seq2[int64, error], n int) ([]int64, []error) {
	t.Helper()
	var vals []int64
	var errs []error
	for v, err := range seq {
		if len(vals) == n {
			t.Errorf("Imap yielded more than its %d items: %v", n, err)
			continue
		}
		vals, errs = append(vals, v), append(errs, err)
	}
	if len(vals) != n {
		t.Fatalf("Imap yielded %d items of %d; the last error: %v", len(vals), n, pkLast(errs))
	}
	return vals, errs
}

func pkLast(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[len(errs)-1]
}

var pkDiedRE = regexp.MustCompile(`\(pid (\d+)\) ended with exit code (-?\d+)`)

// pkDied returns the pid and exit code an ErrWorkerDied names; ok is false
// when err is not ErrWorkerDied or does not name them.
func pkDied(err error) (pid, code int, ok bool) {
	if !errors.Is(err, ErrWorkerDied) {
		return 0, 0, false
	}
	m := pkDiedRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, 0, false
	}
	pid, _ = strconv.Atoi(m[1])
	code, _ = strconv.Atoi(m[2])
	return pid, code, true
}

// pkEventually polls cond until it holds, failing the test at the hang
// guard.
func pkEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v for %s", hangGuard, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pkReplaced waits until the pool has n workers, none of them in killed.
func pkReplaced(t *testing.T, p *Pool, killed map[int]bool) []int {
	t.Helper()
	var pids []int
	pkEventually(t, "the pool to replace its dead workers", func() bool {
		pids = p.Pids()
		return len(pids) == p.Size() && !slices.ContainsFunc(pids, func(pid int) bool { return killed[pid] })
	})
	return pids
}

// pkChoose marks k of n items: the first, the last, and runs of 1 to 4
// consecutive items at random places (seeded: the same set each run).
func pkChoose(n, k int, seed uint64) []bool {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	chosen := make([]bool, n)
	chosen[0], chosen[n-1] = true, true
	count := 2
	for count < k {
		s, l := rng.IntN(n), 1+rng.IntN(4)
		for i := s; i < min(s+l, n) && count < k; i++ {
			if !chosen[i] {
				chosen[i] = true
				count++
			}
		}
	}
	return chosen
}

// pkCheckChosen checks the results of items of which the chosen ones ended
// their worker with exit code code: exactly those failed, with
// ErrWorkerDied naming the pid that started them, and the others returned
// their value. It returns the pids of the dead workers.
func pkCheckChosen(t *testing.T, rec pkRec, chosen []bool, vals []int64, errs []error, code int) map[int]bool {
	t.Helper()
	dead := map[int]bool{}
	bad := 0
	for i := range chosen {
		started := int(rec.Started.At(i))
		if !chosen[i] {
			if errs[i] != nil || vals[i] != pkValue(i) || started == 0 || rec.Finished.At(i) != 1 {
				t.Errorf("item %d: %d, %v (started by %d, finished %d), want %d", i, vals[i], errs[i], started, rec.Finished.At(i), pkValue(i))
				bad++
			}
			continue
		}
		pid, c, ok := pkDied(errs[i])
		switch {
		case !ok:
			t.Errorf("item %d, whose worker died in it: %d, %v; want ErrWorkerDied", i, vals[i], errs[i])
			bad++
		case pid != started || c != code:
			t.Errorf("item %d: %v; want the worker that started it, pid %d, and exit code %d", i, errs[i], started, code)
			bad++
		case dead[pid]:
			t.Errorf("item %d: %v; that worker had died in an earlier item", i, errs[i])
			bad++
		}
		dead[started] = true
		if bad > 20 {
			t.Fatal("too many wrong items")
		}
	}
	return dead
}

// TestPoolKillSelf: a task SIGKILLs its own worker at 100 chosen items of
// 300 (some consecutive, so that a worker dies holding a second, queued
// item, which must not fail), with ChunkSize 1. Exactly the chosen items
// fail, with ErrWorkerDied naming the worker that started them; the others
// succeed; 100 workers died and were replaced; after Close and Join no
// worker is left. The same for os.Exit(7) at 10 items, through Imap and
// Map.
func TestPoolKillSelf(t *testing.T) {
	t.Run("SIGKILL", func(t *testing.T) {
		kills := pkKills()
		n, workers := 3*kills, 3
		chosen := pkChoose(n, kills, 1)
		pairs := 0
		for i := 1; i < n; i++ {
			if chosen[i] && chosen[i-1] {
				pairs++
			}
		}
		if pairs < kills/10 {
			t.Fatalf("only %d consecutive pairs of kills", pairs)
		}
		rec := pkNewRec(t, n)
		p := pkNewPool(t, workers, &PoolOptions{ChunkSize: 1})
		first := p.Pids()
		args := func(yield func(pkArg) bool) {
			for i := range n {
				how := pkReturn
				if chosen[i] {
					how = pkSigkill
				}
				if !yield(rec.arg(i, how)) {
					return
				}
			}
		}
		vals, errs := pkCollect(t, Imap(guard(t), p, pkTask, args), n)
		dead := pkCheckChosen(t, rec, chosen, vals, errs, -9)
		if len(dead) != kills {
			t.Errorf("%d distinct workers died, want %d", len(dead), kills)
		}
		live := pkReplaced(t, p, dead)
		t.Logf("%d kills (%d consecutive pairs); first workers %v, last %v", len(dead), pairs, first, live)
		// The pool goes on after the deaths.
		if out, err := Map(guard(t), p, square, []int{1, 2, 3, 4, 5, 6, 7}); err != nil || !slices.Equal(out, []int{1, 4, 9, 16, 25, 36, 49}) {
			t.Errorf("Map after the kills: %v, %v", out, err)
		}
		pkCloseJoin(t, p, pkStarted(map[int]bool{}, rec, n, append(first, live...)...))
	})

	t.Run("exit", func(t *testing.T) {
		const n, exits = 40, 10
		chosen := make([]bool, n)
		for _, i := range []int{0, 5, 6, 7, 13, 20, 21, 30, 38, 39} {
			chosen[i] = true
		}
		for _, imap := range []bool{true, false} {
			rec := pkNewRec(t, n)
			p := pkNewPool(t, 2, &PoolOptions{ChunkSize: 1})
			first := p.Pids()
			args := make([]pkArg, n)
			for i := range args {
				args[i] = rec.arg(i, pkReturn)
				if chosen[i] {
					args[i].How = pkExit7
				}
			}
			all := map[int]bool{}
			if imap {
				vals, errs := pkCollect(t, Imap(guard(t), p, pkTask, slices.Values(args)), n)
				dead := pkCheckChosen(t, rec, chosen, vals, errs, 7)
				if len(dead) != exits {
					t.Errorf("%d distinct workers exited, want %d", len(dead), exits)
				}
				pkReplaced(t, p, dead)
			} else {
				// Map fails with the first failed item's error, once every
				// item is settled.
				out, err := Map(guard(t), p, pkTask, args)
				pid, code, ok := pkDied(err)
				if out != nil || !ok || code != 7 || pid != int(rec.Started.At(0)) {
					t.Errorf("Map: %v, %v; want item 0 failed with ErrWorkerDied, exit code 7, pid %d", out, err, rec.Started.At(0))
				} else if !strings.HasPrefix(err.Error(), "item 0: ") {
					t.Errorf("Map: %v; want it to name item 0", err)
				}
				dead := map[int]bool{}
				for i := range n {
					if rec.Finished.At(i) != 1 && !chosen[i] {
						t.Errorf("Map: item %d did not run to its end", i)
					}
					if chosen[i] {
						dead[int(rec.Started.At(i))] = true
					}
				}
				if len(dead) != exits {
					t.Errorf("%d distinct workers exited, want %d", len(dead), exits)
				}
				pkReplaced(t, p, dead)
			}
			pkCloseJoin(t, p, pkStarted(all, rec, n, first...))
		}
	})
}

// TestPoolKillRandom: while Imap runs small sleeping tasks (ChunkSize 1),
// the test SIGKILLs a random worker 100 times, at random moments: in a
// task, between tasks, while the worker sends a result or takes a task.
// Every item succeeds with its value or fails with ErrWorkerDied naming a
// killed worker, which started the item or never began it (it had taken
// it); a killed worker fails at most one item, so no more items fail than
// workers were killed; the pool replaces every killed worker, and Close and
// Join end with no worker left.
//
// Workers are killed once they have started a task, but for up to four
// killed before that (a kill before the worker is ready counts towards
// the 8 deaths in a row that end the pool with ErrInitializer).
func TestPoolKillRandom(t *testing.T) {
	const workers, maxItems = 2, 200000
	kills := pkKills()
	const earlyKills = 4
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	rec := pkNewRec(t, maxItems)
	p := pkNewPool(t, workers, &PoolOptions{ChunkSize: 1})
	first := p.Pids()

	var issued atomic.Int64  // items handed to Imap
	var killing atomic.Bool  // the killer goes on
	var imapDone atomic.Bool // the Imap loop ended
	killed := map[int]bool{} // the killer's, read after wg.Wait
	var early, killErrs int  // the same
	var wg sync.WaitGroup
	killing.Store(true)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer killing.Store(false)
		deadline := time.Now().Add(hangGuard)
		for len(killed) < kills && !imapDone.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Duration(rng.IntN(8000)) * time.Microsecond)
			var cand []int
			for _, pid := range p.Pids() {
				if !killed[pid] {
					cand = append(cand, pid)
				}
			}
			if len(cand) == 0 {
				continue
			}
			pid := cand[rng.IntN(len(cand))]
			began := false
			for i := range int(issued.Load()) {
				if int(rec.Started.At(i)) == pid {
					began = true
					break
				}
			}
			if !began {
				if early >= earlyKills || rng.IntN(4) != 0 {
					continue
				}
				early++
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				killErrs++
				continue
			}
			killed[pid] = true
		}
	}()

	// The items go on until the killer is done, and a few more after.
	args := func(yield func(pkArg) bool) {
		tail := 8 * workers
		for i := range maxItems {
			if !killing.Load() {
				if tail == 0 {
					return
				}
				tail--
			}
			a := rec.arg(i, pkReturn)
			a.SleepUS = rng2(i) % 3000
			issued.Store(int64(i + 1))
			if !yield(a) {
				return
			}
		}
	}
	var vals []int64
	var errs []error
	for v, err := range Imap(guard(t), p, pkTask, args) {
		vals, errs = append(vals, v), append(errs, err)
	}
	imapDone.Store(true)
	wg.Wait()
	n := int(issued.Load())
	if killErrs > 0 {
		t.Errorf("%d kills of a current worker (p.Pids) failed: it was gone", killErrs)
	}
	if len(killed) < kills {
		t.Errorf("only %d kills landed while Imap ran %d items", len(killed), n)
	}
	if len(vals) != n {
		t.Fatalf("Imap yielded %d items of %d; the last error: %v", len(vals), n, pkLast(errs))
	}

	failed, unstarted := 0, 0
	blamed := map[int]int{} // dead pid -> the item it failed
	for i := range n {
		started := int(rec.Started.At(i))
		if errs[i] == nil {
			if vals[i] != pkValue(i) || started == 0 || rec.Finished.At(i) != 1 {
				t.Errorf("item %d: %d (started by %d, finished %d), want %d", i, vals[i], started, rec.Finished.At(i), pkValue(i))
			}
			continue
		}
		failed++
		pid, code, ok := pkDied(errs[i])
		switch {
		case !ok:
			t.Errorf("item %d: %v; want ErrWorkerDied or success", i, errs[i])
			continue
		case !killed[pid] || code != -9:
			t.Errorf("item %d: %v; that pid was not killed by the test", i, errs[i])
		case started != 0 && started != pid:
			t.Errorf("item %d: %v; but pid %d started it", i, errs[i], started)
		}
		if started == 0 {
			unstarted++
		}
		if j, dup := blamed[pid]; dup {
			t.Errorf("items %d and %d both failed with the death of pid %d", j, i, pid)
		}
		blamed[pid] = i
	}
	if failed > len(killed) {
		t.Errorf("%d items failed, after %d kills", failed, len(killed))
	}
	t.Logf("%d items, %d kills (%d before the worker's first task), %d failed items (%d not begun)", n, len(killed), early, failed, unstarted)
	live := pkReplaced(t, p, killed)
	all := map[int]bool{}
	for pid := range killed {
		all[pid] = true
	}
	pkCloseJoin(t, p, pkStarted(all, rec, n, append(first, live...)...))
}

// rng2 is a fixed pseudo-random spread of item i.
func rng2(i int) int { return int(uint64(i) * 0x9e3779b97f4a7c15 >> 40) }

// TestPoolKillInitializer: workers killed while their initializer blocks
// (three kills, the first worker, its replacement and the second) are
// replaced; the tasks given meanwhile (in the dead workers' queues) do
// not fail, and none starts before an initializer returns; once the
// initializers can return, every task succeeds.
func TestPoolKillInitializer(t *testing.T) {
	const n = 12
	count, err := value.New[int64](0)
	if err != nil {
		t.Fatal(err)
	}
	gate := newEvent(t)
	rec := pkNewRec(t, n)
	p := pkNewPool(t, 2, &PoolOptions{ChunkSize: 1, Initializer: Init(pkInit, pkInitArg{Count: count, Gate: gate})})
	pkEventually(t, "both initializers to run", func() bool { return count.Load() == 2 })
	var results []*AsyncResult[int64]
	for i := range n {
		results = append(results, ApplyAsync(p, pkTask, rec.arg(i, pkReturn)))
	}
	known := map[int]bool{}
	pids := p.Pids()
	for _, pid := range pids {
		known[pid] = true
	}
	killed := map[int]bool{}
	kill := func(pid int, runs int64) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
		killed[pid] = true
		var fresh int
		pkEventually(t, "a replacement's initializer to run", func() bool {
			fresh = 0
			for _, q := range p.Pids() {
				if !known[q] {
					fresh = q
				}
			}
			return fresh != 0 && count.Load() == runs
		})
		known[fresh] = true
	}
	kill(pids[0], 3)
	for _, pid := range p.Pids() {
		if !killed[pid] && pid != pids[1] {
			kill(pid, 4) // the replacement
		}
	}
	kill(pids[1], 5)
	if len(killed) != 3 {
		t.Fatalf("killed %d workers, want 3", len(killed))
	}
	for i := range n {
		if pid := rec.Started.At(i); pid != 0 {
			t.Errorf("item %d started (pid %d) before any initializer returned", i, pid)
		}
		if results[i].Ready() {
			v, err := results[i].Get(guard(t))
			t.Errorf("item %d settled before any initializer returned: %d, %v", i, v, err)
		}
	}
	if err := gate.Set(); err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if v, err := r.Get(guard(t)); err != nil || v != pkValue(i) {
			t.Errorf("item %d: %d, %v; want %d", i, v, err, pkValue(i))
		}
	}
	if out, err := Map(guard(t), p, square, []int{1, 2, 3}); err != nil || !slices.Equal(out, []int{1, 4, 9}) {
		t.Errorf("Map after the kills: %v, %v", out, err)
	}
	live := pkReplaced(t, p, killed)
	t.Logf("killed %v in their initializer; workers now %v", slices.Sorted(maps.Keys(killed)), live)
	pkCloseJoin(t, p, known)
}

// TestPoolKillClosing: a worker killed after Close, while it runs a task
// and holds a queued one, fails the task it runs with ErrWorkerDied; the
// queued one goes to another worker (a replacement: the pool still has
// work), the other tasks finish, and Join returns. Killing the worker of
// the last task of a closed pool fails that task and lets Join return.
func TestPoolKillClosing(t *testing.T) {
	t.Run("work left", func(t *testing.T) {
		const n = 4
		gate := newEvent(t)
		rec := pkNewRec(t, n)
		p := pkNewPool(t, 2, &PoolOptions{ChunkSize: 1})
		first := p.Pids()
		var results []*AsyncResult[int64]
		for i := range n {
			a := rec.arg(i, pkBlock)
			a.Gate = gate
			results = append(results, ApplyAsync(p, pkTask, a))
		}
		// Items 0 and 1 run, one in each worker; 2 and 3 wait in their
		// queues.
		pkEventually(t, "items 0 and 1 to start", func() bool { return rec.Started.At(0) != 0 && rec.Started.At(1) != 0 })
		p.Close()
		victim := int(rec.Started.At(0))
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		v, err := results[0].Get(guard(t))
		if pid, code, ok := pkDied(err); !ok || pid != victim || code != -9 {
			t.Errorf("item 0, whose worker was killed: %d, %v; want ErrWorkerDied naming pid %d", v, err, victim)
		}
		for i := 1; i < n; i++ {
			if results[i].Ready() {
				v, err := results[i].Get(guard(t))
				t.Errorf("item %d settled before its gate opened: %d, %v", i, v, err)
			}
		}
		if err := gate.Set(); err != nil {
			t.Fatal(err)
		}
		all := map[int]bool{}
		for i := 1; i < n; i++ {
			if v, err := results[i].Get(guard(t)); err != nil || v != pkValue(i) {
				t.Errorf("item %d: %d, %v; want %d", i, v, err, pkValue(i))
			}
			all[int(rec.Started.At(i))] = true
			if int(rec.Started.At(i)) == victim {
				t.Errorf("item %d ran in the killed worker", i)
			}
		}
		// The item queued behind item 0 went to the dead worker's
		// replacement (the other worker holds two items).
		if !slices.ContainsFunc([]int{1, 2, 3}, func(i int) bool { return !slices.Contains(first, int(rec.Started.At(i))) }) {
			t.Errorf("no replacement ran an item: items 1-3 ran in %d, %d, %d; the first workers were %v",
				rec.Started.At(1), rec.Started.At(2), rec.Started.At(3), first)
		}
		if _, err := Apply(guard(t), p, square, 2); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("Apply after Close: %v, want ErrPoolClosed", err)
		}
		all[victim] = true
		for _, pid := range first {
			all[pid] = true
		}
		pkCloseJoin(t, p, all)
	})

	t.Run("last task", func(t *testing.T) {
		gate := newEvent(t)
		rec := pkNewRec(t, 1)
		p := pkNewPool(t, 2, &PoolOptions{ChunkSize: 1})
		first := p.Pids()
		a := rec.arg(0, pkBlock)
		a.Gate = gate
		r := ApplyAsync(p, pkTask, a)
		pkEventually(t, "the task to start", func() bool { return rec.Started.At(0) != 0 })
		p.Close()
		victim := int(rec.Started.At(0))
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		v, err := r.Get(guard(t))
		if pid, code, ok := pkDied(err); !ok || pid != victim || code != -9 {
			t.Errorf("the task whose worker was killed: %d, %v; want ErrWorkerDied naming pid %d", v, err, victim)
		}
		all := map[int]bool{victim: true}
		for _, pid := range first {
			all[pid] = true
		}
		pkCloseJoin(t, p, all)
	})
}

// TestPoolKillChunk: a worker that dies in the middle of a chunk (ChunkSize
// 10) fails all ten items of that chunk, those it had already computed
// too (a chunk's results travel together), and none after the item it died
// in started; the other chunks succeed. The worker dies in the first item
// of a chunk, in the middle of one and in the last. Map fails with the
// first item of the first such chunk.
func TestPoolKillChunk(t *testing.T) {
	const n, cs = 80, 10
	kills := []int{20, 35, 59}
	for _, imap := range []bool{true, false} {
		rec := pkNewRec(t, n)
		p := pkNewPool(t, 2, &PoolOptions{ChunkSize: cs})
		first := p.Pids()
		args := make([]pkArg, n)
		for i := range args {
			args[i] = rec.arg(i, pkReturn)
			if slices.Contains(kills, i) {
				args[i].How = pkSigkill
			}
		}
		dead := map[int]bool{}
		if imap {
			vals, errs := pkCollect(t, Imap(guard(t), p, pkTask, slices.Values(args)), n)
			for i := range n {
				k := i / cs * cs // the chunk's first item
				kill := slices.IndexFunc(kills, func(x int) bool { return x/cs*cs == k })
				if kill < 0 {
					if errs[i] != nil || vals[i] != pkValue(i) {
						t.Errorf("item %d: %d, %v; want %d", i, vals[i], errs[i], pkValue(i))
					}
					continue
				}
				victim := int(rec.Started.At(kills[kill]))
				dead[victim] = true
				if pid, code, ok := pkDied(errs[i]); !ok || pid != victim || code != -9 {
					t.Errorf("item %d, in the chunk whose worker died at item %d: %d, %v; want ErrWorkerDied naming pid %d",
						i, kills[kill], vals[i], errs[i], victim)
				}
			}
		} else {
			out, err := Map(guard(t), p, pkTask, args)
			victim := int(rec.Started.At(kills[0]))
			pid, code, ok := pkDied(err)
			if want := fmt.Sprintf("item %d: ", kills[0]/cs*cs); out != nil || !ok || pid != victim || code != -9 ||
				!strings.HasPrefix(err.Error(), want) {
				t.Errorf("Map: %v, %v; want %q and ErrWorkerDied naming pid %d", out, err, want, victim)
			}
		}
		// Who ran what: the chunk's items up to the kill by the worker
		// that died, none after it; every other item to its end.
		for _, k := range kills {
			victim := int(rec.Started.At(k))
			dead[victim] = true
			for i := k / cs * cs; i < k/cs*cs+cs; i++ {
				switch pid := int(rec.Started.At(i)); {
				case i <= k && pid != victim:
					t.Errorf("item %d was started by %d, not by the worker that died at item %d (%d)", i, pid, k, victim)
				case i > k && pid != 0:
					t.Errorf("item %d, after the worker died at item %d, was started (pid %d)", i, k, pid)
				}
			}
		}
		for i := range n {
			if slices.ContainsFunc(kills, func(k int) bool { return k/cs == i/cs }) {
				continue
			}
			if rec.Finished.At(i) != 1 {
				t.Errorf("item %d did not run to its end", i)
			}
		}
		if len(dead) != len(kills) {
			t.Errorf("%d distinct workers died, want %d", len(dead), len(kills))
		}
		live := pkReplaced(t, p, dead)
		pkCloseJoin(t, p, pkStarted(map[int]bool{}, rec, n, append(first, live...)...))
	}
}

// childPoolParent makes a pool of 2 whose first worker blocks in a task
// (its gate is never set), writes the workers' pids to the array "pids"
// of the segment its argument names, and waits at a point to be killed.
var childPoolParent = testproc.Register("pk.poolParent", func(c *testproc.Child) error {
	seg, pids, _, err := shmtest.OpenObject(c, "pids", array.Open[int32])
	if err != nil {
		return err
	}
	defer seg.Close()
	started, err := array.Open[int32](context.Background(), seg, "started")
	if err != nil {
		return err
	}
	gate, err := semaphore.OpenEvent(context.Background(), seg, "gate")
	if err != nil {
		return err
	}
	p, err := NewPool(2, &PoolOptions{ChunkSize: 1})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	// Both workers run: each answers a task; then one blocks in a task.
	if _, err := Map(ctx, p, square, []int{1, 2, 3, 4}); err != nil {
		return err
	}
	ApplyAsync(p, pkTask, pkArg{I: 0, How: pkBlock, Started: started, Gate: gate})
	for started.At(0) == 0 {
		if ctx.Err() != nil {
			return errors.New("the blocking task did not start")
		}
		time.Sleep(time.Millisecond)
	}
	ws := p.Pids()
	if len(ws) != 2 {
		return fmt.Errorf("the pool has workers %v", ws)
	}
	for i, pid := range ws {
		pids.Set(i, int32(pid))
	}
	c.Point("pool running") // killed here
	return errors.New("not killed at the point")
})

// TestPoolParentKilled: when the process that made a pool is SIGKILLed,
// its workers (one in a task, one idle) die too. The bound is generous; the
// test logs the time taken.
func TestPoolParentKilled(t *testing.T) {
	seg := shmtest.Seg(t)
	pidArr, err := array.New[int32](2, shm.In(seg, "pids"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := array.New[int32](1, shm.In(seg, "started")); err != nil {
		t.Fatal(err)
	}
	if _, err := semaphore.NewEvent(shm.In(seg, "gate")); err != nil {
		t.Fatal(err)
	}
	parent := testproc.Start(t, childPoolParent, testproc.Arg(seg.Name()), testproc.Timeout(hangGuard))
	parent.WaitPoint("pool running")
	var pids []int
	before := map[int]procStat{}
	for i := range 2 {
		pid := int(pidArr.At(i))
		st, err := readStat(pid)
		if err != nil {
			t.Fatalf("worker %d (pid %d) is not there while its parent lives: %v", i, pid, err)
		}
		if st.ppid != parent.Pid() || st.state == 'Z' {
			t.Fatalf("worker pid %d: state %c, parent %d; want a live child of %d", pid, st.state, st.ppid, parent.Pid())
		}
		pids = append(pids, pid)
		before[pid] = st
	}
	// If a worker outlives the test, end it (and not a process that took
	// its pid since).
	t.Cleanup(func() {
		for pid, b := range before {
			if st, err := readStat(pid); err == nil && st.startTime == b.startTime && st.state != 'Z' {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	killed := time.Now()
	parent.Kill()
	for _, pid := range pids {
		if how, st := awaitGone(pid, before[pid], killed, 20*time.Second); how != "" {
			t.Logf("worker %d gone %v after its parent was killed", pid, time.Since(killed))
		} else {
			t.Errorf("worker %d still runs %v after the pool's parent was killed: state %c, parent %d",
				pid, time.Since(killed), st.state, st.ppid)
		}
	}
	if res := parent.Wait(); !res.Killed() {
		t.Errorf("the pool's parent was not killed: %+v", res)
	}
}
