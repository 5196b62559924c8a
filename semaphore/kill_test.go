//go:build linux && (amd64 || arm64)

package semaphore

// SIGKILL tests: a process dies holding a lock, inside a lock/unlock loop,
// inside Barrier.Wait or inside Cond.Wait, and the survivors (this process,
// sometimes a child) must get the lock, with ErrOwnerDead exactly when the
// dead process held it, or ErrBrokenBarrier, and never hang. Each test runs
// alone (go test -run TestKillMutexOwnerWhileWaiting) and repeats its
// scenario killRounds times, one child per round, killed at a testproc
// Point or after a random delay. Each round's child is started during the
// round before, so that start-ups overlap the rounds, and the kill tests
// run in parallel with each other (t.Parallel). The random seed is
// logged; every wait is bounded (mpTimeout, testproc timeouts), and the
// only timing check is that a death is noticed within killNoticed; the
// latencies measured are logged.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

const (
	// killRounds is how many times each kill test repeats its scenario.
	killRounds = 200
	// killNoticed is the generous bound on how long survivors may take to
	// notice a death (documented: about 40 ms; a second for a barrier
	// party killed before recording itself).
	killNoticed = 5 * time.Second
)

// killRand is a random source whose seed the test logs.
func killRand(t testing.TB) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("SEMAPHORE_KILL_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("random seed %d (set SEMAPHORE_KILL_SEED to repeat)", seed)
	return rand.New(rand.NewPCG(seed, 0x5eed))
}

// killAhead is how many rounds ahead a kill test starts its children: a
// child's start-up (tens of milliseconds under -race) overlaps the rounds
// before it.
const killAhead = 3

// killSeries starts the child of each round, with what the round needs to
// know about it, killAhead rounds ahead.
type killSeries[T any] struct {
	start   func() T
	started []T
	left    int // children still to start
}

func newKillSeries[T any](rounds int, start func() T) *killSeries[T] {
	return &killSeries[T]{start: start, left: rounds}
}

// child is this round's child, already started.
func (s *killSeries[T]) child() T {
	for s.left > 0 && len(s.started) <= killAhead {
		s.started = append(s.started, s.start())
		s.left--
	}
	c := s.started[0]
	s.started = s.started[1:]
	return c
}

// killContexts hands out a context per round, ending mpTimeout after the
// round began (a test of many rounds takes longer than that on a busy
// machine) and cancelled when the next round begins or the test ends.
type killContexts struct{ cancel context.CancelFunc }

func newKillContexts(t testing.TB) *killContexts {
	k := &killContexts{}
	t.Cleanup(func() {
		if k.cancel != nil {
			k.cancel()
		}
	})
	return k
}

func (k *killContexts) next() context.Context {
	if k.cancel != nil {
		k.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), mpTimeout)
	k.cancel = cancel
	return ctx
}

// killMustDie waits for a child that was killed.
func killMustDie(t testing.TB, p *testproc.Proc) {
	t.Helper()
	if res := p.Wait(); !res.Killed() {
		t.Fatalf("child %d was to be killed, ended with exit code %d:\n%s", p.Pid(), res.ExitCode, res.Output)
	}
}

// killLatencies collects how long survivors took to notice deaths.
type killLatencies []time.Duration

func (l *killLatencies) add(t testing.TB, d time.Duration) {
	t.Helper()
	if d > killNoticed {
		t.Errorf("a death was noticed after %v (more than %v)", d, killNoticed)
	}
	*l = append(*l, d)
}

func (l killLatencies) log(t testing.TB, what string) {
	if len(l) == 0 {
		return
	}
	s := slices.Sorted(slices.Values(l))
	q := func(f float64) time.Duration { return s[int(f*float64(len(s)-1))].Round(10 * time.Microsecond) }
	t.Logf("%s: %d deaths noticed after min %v, median %v, 90%% %v, max %v", what, len(s), q(0), q(0.5), q(0.9), q(1))
}

// killLock is a Mutex or an RLock, as the kill tests use them.
type killLock struct {
	kind   string // "mutex" or "rlock"
	name   string
	word   *lockWord
	lock   func(context.Context) error
	try    func() error
	unlock func()
	owner  func() int
	depth  func() int // 1 for a held Mutex
}

func killMutex(mu *Mutex, name string) killLock {
	return killLock{"mutex", name, &mu.l, mu.LockContext, mu.TryLock, mu.Unlock, mu.Owner,
		func() int { return min(mu.Owner(), 1) }}
}

func killRLock(r *RLock, name string) killLock {
	return killLock{"rlock", name, &r.l, r.LockContext, r.TryLock, r.Unlock, r.Owner, r.Depth}
}

// killOpenLock opens the lock named by fields kind and name.
func killOpenLock(seg *shm.Segment, kind, name string) (killLock, error) {
	switch kind {
	case "mutex":
		mu, err := OpenMutex(context.Background(), seg, name)
		if err != nil {
			return killLock{}, err
		}
		return killMutex(mu, name), nil
	case "rlock":
		r, err := OpenRLock(context.Background(), seg, name)
		if err != nil {
			return killLock{}, err
		}
		return killRLock(r, name), nil
	}
	return killLock{}, fmt.Errorf("unknown lock kind %q", kind)
}

// killTakeDead takes a lock whose holder died, the way a round chose:
// Lock, LockContext or TryLock. It returns the error, which must match
// ErrOwnerDead.
func killTakeDead(ctx context.Context, l killLock, how int) error {
	switch how % 3 {
	case 0:
		return l.lock(context.Background())
	case 1:
		return l.lock(ctx)
	}
	return l.try()
}

// killChildLock locks the lock its argument names ("seg kind name depth
// unlocks"): depth times, then unlocks it unlocks times, and stops at
// "locked" to be killed holding it. It stops at "ready" first, before
// touching it.
var killChildLock = segChild("sem-kill-lock", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	args, err := childInts(f, 2, 3)
	if err != nil {
		return err
	}
	depth, unlocks := args[0], args[1]
	l, err := killOpenLock(seg, f[0], f[1])
	if err != nil {
		return err
	}
	c.Point("ready")
	for d := 1; d <= depth; d++ {
		if err := l.lock(context.Background()); err != nil {
			return fmt.Errorf("lock %d: %w", d, err)
		}
	}
	for range unlocks {
		l.unlock()
	}
	c.Point("locked")
	for range depth - unlocks {
		l.unlock()
	}
	return errors.New("not killed at \"locked\"")
})

// killOwnerTest is the scenario of the four owner tests: a child takes the
// lock (an RLock at a random depth), is killed at "locked", and this
// process takes the lock from it: already waiting in Lock when it dies, or
// arriving after it was reaped, now and then as a child.
func killOwnerTest(t *testing.T, kind string, waiting bool) {
	t.Parallel()
	seg := testSeg(t)
	var l killLock
	if kind == "mutex" {
		mu := mustMutex(t, shm.In(seg, "lock"))
		l = killMutex(mu, "lock")
	} else {
		r := mustRLock(t, shm.In(seg, "lock"))
		l = killRLock(r, "lock")
	}
	rng := killRand(t)
	ctxs := newKillContexts(t)
	var lat killLatencies
	type child struct {
		p    *testproc.Proc
		held int // the depth it holds the lock at
	}
	series := newKillSeries(killRounds, func() child {
		depth, unlocks := 1, 0
		if kind == "rlock" {
			depth = 1 + rng.IntN(3)
			unlocks = rng.IntN(depth)
		}
		p := shmtest.Start(t, mpChildTimeout, killChildLock, seg.Name(), kind, "lock", strconv.Itoa(depth), strconv.Itoa(unlocks))
		return child{p, depth - unlocks}
	})
	for round := range killRounds {
		ctx := ctxs.next()
		ch := series.child()
		p := ch.p
		p.WaitPoint("locked")
		if o, d := l.owner(), l.depth(); o != p.Pid() || d != ch.held {
			t.Fatalf("round %d: owner %d depth %d, want the child %d at depth %d", round, o, d, p.Pid(), ch.held)
		}
		var err error
		var noticed time.Duration
		if waiting {
			type res struct {
				err error
				at  time.Time
			}
			got := make(chan res, 1)
			go func() {
				err := l.lock(ctx)
				got <- res{err, time.Now()}
			}()
			mpEventually(t, "the waiter sleeps on the lock", func() bool { return mpContended(l.word) })
			if rng.IntN(2) == 0 {
				// Anywhere in the waiter's sleep, or past its next look.
				time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
			}
			killed := time.Now()
			p.Kill()
			select {
			case r := <-got:
				err, noticed = r.err, r.at.Sub(killed)
			case <-time.After(mpTimeout):
				t.Fatalf("round %d: Lock still waiting %v after its holder was killed", round, mpTimeout)
			}
			killMustDie(t, p)
		} else {
			p.Kill()
			killMustDie(t, p)
			if round%20 == 19 {
				// Another process arrives first.
				if res := mpResult(t, shmtest.Start(t, mpChildTimeout, mpChildTry, seg.Name(), kind, "lock")); res != "true ownerdead" {
					t.Fatalf("round %d: a child's TryLock of a lock whose holder died: %s, want true ownerdead", round, res)
				}
				continue
			}
			start := time.Now()
			err = killTakeDead(ctx, l, rng.IntN(3))
			noticed = time.Since(start)
		}
		var ode *OwnerDeadError
		if !errors.Is(err, ErrOwnerDead) || !errors.As(err, &ode) || ode.Pid != p.Pid() || pidOf(ode.Owner) != p.Pid() ||
			ode.Owner&contended != 0 || ode.Lock != kind {
			t.Fatalf("round %d: taking the lock of the killed child %d: %v (%#v), want an *OwnerDeadError naming it", round, p.Pid(), err, ode)
		}
		lat.add(t, noticed)
		if o, d := l.owner(), l.depth(); o != os.Getpid() || d != 1 {
			t.Fatalf("round %d: after ErrOwnerDead: owner %d depth %d, want %d 1", round, o, d, os.Getpid())
		}
		if kind == "rlock" { // and it re-enters as usual
			if err := l.lock(ctx); err != nil || l.depth() != 2 {
				t.Fatalf("round %d: re-entering after ErrOwnerDead: %v, depth %d", round, err, l.depth())
			}
			l.unlock()
		}
		l.unlock()
		if o := l.owner(); o != 0 {
			t.Fatalf("round %d: owner %d after Unlock", round, o)
		}
	}
	lat.log(t, "ErrOwnerDead")
}

// TestKillMutexOwnerWhileWaiting: the holder of a Mutex is killed while
// this process waits in Lock: the waiter gets the lock with ErrOwnerDead.
func TestKillMutexOwnerWhileWaiting(t *testing.T) { killOwnerTest(t, "mutex", true) }

// TestKillMutexOwnerNoWaiter: the holder of a Mutex is killed while nobody
// waits: the next Lock, LockContext or TryLock, here or in another process,
// gets it with ErrOwnerDead.
func TestKillMutexOwnerNoWaiter(t *testing.T) { killOwnerTest(t, "mutex", false) }

// TestKillRLockOwnerWhileWaiting: as for the Mutex, with the RLock held at
// depth 1 to 3 (entered up to 3 times, left some of them).
func TestKillRLockOwnerWhileWaiting(t *testing.T) { killOwnerTest(t, "rlock", true) }

// TestKillRLockOwnerNoWaiter: as for the Mutex, with the RLock held at
// depth 1 to 3.
func TestKillRLockOwnerNoWaiter(t *testing.T) { killOwnerTest(t, "rlock", false) }

// ---- Killed inside a lock/unlock loop ----

// killLoopPoints are where a killLoop child can stop in an iteration, and
// whether it holds the lock there.
var killLoopPoints = []struct {
	name string
	held bool
	only string // the lock kind it exists for, "" for both
}{
	{"before-lock", false, ""},
	{"locked", true, ""},
	{"reentered", true, "rlock"},
	{"unlocking", true, ""},
	{"unlocked", false, ""},
}

// killChildLoop locks and unlocks the lock its argument names ("seg kind
// name iteration point") in a loop until it is killed, by Lock, LockContext
// and TryLock in turn, marking the words block's marker while it holds the
// lock; an RLock is entered twice. In the given iteration it stops at the
// given point (see killLoopPoints); iteration -1 means never. It stops at
// "ready" before the loop.
var killChildLoop = segChild("sem-kill-loop", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	l, err := killOpenLock(seg, f[0], f[1])
	if err != nil {
		return err
	}
	at, err := shmtest.Int(f, 2)
	if err != nil {
		return err
	}
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	marker := mem.Uint32(w, mpWMarker)
	id := uint32(os.Getpid())
	stop := func(i int, name string) {
		if i == at && name == f[3] {
			c.Point(name)
		}
	}
	ctx := context.Background()
	c.Point("ready")
	for i := 0; ; i++ {
		stop(i, "before-lock")
		var err error
		switch i % 3 {
		case 0:
			err = l.lock(context.Background())
		case 1:
			err = l.lock(ctx)
		case 2:
			for {
				terr := l.try()
				if !errors.Is(terr, ErrWouldBlock) {
					err = terr
					break
				}
				runtime.Gosched()
			}
		}
		if err != nil {
			return fmt.Errorf("iteration %d: lock: %w", i, err)
		}
		stop(i, "locked")
		if m := atomic.SwapUint32(marker, id); m != 0 {
			return fmt.Errorf("iteration %d: marker %d when the lock was taken", i, m)
		}
		if l.kind == "rlock" {
			if err := l.lock(ctx); err != nil {
				return fmt.Errorf("iteration %d: re-entering: %w", i, err)
			}
			stop(i, "reentered")
			l.unlock()
		}
		if m := atomic.SwapUint32(marker, 0); m != id {
			return fmt.Errorf("iteration %d: marker %d inside the critical section", i, m)
		}
		stop(i, "unlocking")
		l.unlock()
		stop(i, "unlocked")
	}
})

// killContender locks and unlocks l in a loop in this process until told
// to stop, as the child does, counting ErrOwnerDead and checking that a
// lock taken normally has nobody inside.
type killContender struct {
	l       killLock
	marker  *uint32
	stop    atomic.Bool
	n       atomic.Int64 // iterations done
	dead    int
	err     error
	done    chan struct{}
	running bool
}

func (k *killContender) run(ctx context.Context) {
	defer close(k.done)
	id := uint32(os.Getpid())
	for !k.stop.Load() {
		err := k.l.lock(ctx)
		switch {
		case err == nil:
			if m := atomic.LoadUint32(k.marker); m != 0 {
				k.err = fmt.Errorf("lock taken normally while %d is inside", m)
				k.l.unlock()
				return
			}
		case errors.Is(err, ErrOwnerDead):
			k.dead++ // the dead holder may have left its mark
		default:
			k.err = err
			return
		}
		atomic.StoreUint32(k.marker, id)
		runtime.Gosched()
		atomic.StoreUint32(k.marker, 0)
		k.l.unlock()
		k.n.Add(1)
		runtime.Gosched()
	}
}

// TestKillLockLoop: a child locks and unlocks a Mutex or an RLock (rounds
// alternate) in a loop, while this process contends for it or not, and is
// killed after a random delay or at a chosen point of a chosen iteration.
// The lock is never held by nobody known: survivors get it normally (and
// nobody else is inside) or with ErrOwnerDead, once at most, and exactly
// once when the child died holding it; they never hang.
func TestKillLockLoop(t *testing.T) {
	t.Parallel()
	seg := testSeg(t)
	mu := mustMutex(t, shm.In(seg, "mutex"))
	r := mustRLock(t, shm.In(seg, "rlock"))
	locks := []killLock{killMutex(mu, "mutex"), killRLock(r, "rlock")}
	w := mpWords(t, seg)
	marker := mem.Uint32(w, mpWMarker)
	rng := killRand(t)
	ctxs := newKillContexts(t)
	type child struct {
		p     *testproc.Proc
		l     killLock
		iter  int    // of the point, -1 for a random delay
		point string // where it stops
		held  bool   // whether it holds the lock there
	}
	round := 0
	series := newKillSeries(killRounds, func() child {
		c := child{l: locks[round%2], iter: -1, point: "-"}
		round++
		if rng.IntN(3) == 0 {
			for {
				pt := killLoopPoints[rng.IntN(len(killLoopPoints))]
				if pt.only == "" || pt.only == c.l.kind {
					c.iter, c.point, c.held = rng.IntN(20), pt.name, pt.held
					break
				}
			}
		}
		c.p = shmtest.Start(t, mpChildTimeout, killChildLoop, seg.Name(), c.l.kind, c.l.name, strconv.Itoa(c.iter), c.point)
		return c
	})
	var stats struct{ dead, free, contended int }
	// A round that fails leaves its contender locking and unlocking in
	// the segment: stop it, and wait for it, before the cleanups close
	// the segment (its context ends so that a lock the child still holds
	// does not keep it).
	var k *killContender
	defer func() {
		if k != nil && k.running {
			ctxs.cancel()
			k.stop.Store(true)
			<-k.done
		}
	}()
	for round := range killRounds {
		ctx := ctxs.next()
		c := series.child()
		l, p := c.l, c.p
		p.WaitPoint("ready")
		k = &killContender{l: l, marker: marker, done: make(chan struct{})}
		if rng.IntN(2) == 0 {
			k.running = true
			stats.contended++
			go k.run(ctx)
		}
		if c.iter >= 0 {
			p.WaitPoint(c.point)
		} else {
			p.Continue()
			if d := rng.IntN(4); d > 0 {
				time.Sleep(time.Duration(rng.IntN(1000*d)) * time.Microsecond)
			}
		}
		p.Kill()
		killMustDie(t, p)
		// held: whether the dead child holds the lock now, if known.
		dead := 0
		if k.running {
			// Let the contender go round twice more: it has then taken
			// the lock since the death.
			base := k.n.Load()
			mpEventually(t, "the contender goes on after the death", func() bool {
				select {
				case <-k.done:
					return true
				default:
				}
				return k.n.Load() >= base+2
			})
			k.stop.Store(true)
			<-k.done
			if k.err != nil {
				t.Fatalf("round %d (%s, point %s): contender: %v", round, l.kind, c.point, k.err)
			}
			dead = k.dead
			if o := l.owner(); o != 0 {
				t.Fatalf("round %d: owner %d after the contender stopped", round, o)
			}
		}
		heldNow := l.owner() == p.Pid()
		if c.iter >= 0 && !k.running && heldNow != c.held {
			t.Fatalf("round %d (%s): child killed at %q: dead child holds the lock: %v, want %v", round, l.kind, c.point, heldNow, c.held)
		}
		err := killTakeDead(ctx, l, rng.IntN(3))
		switch {
		case err == nil:
			if m := atomic.LoadUint32(marker); m != 0 {
				t.Fatalf("round %d: lock taken normally with marker %d", round, m)
			}
		case errors.Is(err, ErrOwnerDead):
			dead++
			atomic.StoreUint32(marker, 0)
		default:
			t.Fatalf("round %d: final lock: %v", round, err)
		}
		if (err != nil) != heldNow {
			t.Fatalf("round %d: final lock: %v, with the dead child holding it: %v", round, err, heldNow)
		}
		if dead > 1 || c.iter >= 0 && dead != map[bool]int{false: 0, true: 1}[c.held] {
			t.Fatalf("round %d (%s, killed at %q, contended %v): %d ErrOwnerDead", round, l.kind, c.point, k.running, dead)
		}
		if dead == 1 {
			stats.dead++
		} else {
			stats.free++
		}
		if l.depth() != 1 || l.owner() != os.Getpid() {
			t.Fatalf("round %d: after the final lock: owner %d depth %d", round, l.owner(), l.depth())
		}
		l.unlock()
		if o := l.owner(); o != 0 {
			t.Fatalf("round %d: owner %d after the final unlock", round, o)
		}
	}
	t.Logf("%d rounds the child died holding the lock, %d not; %d with this process contending", stats.dead, stats.free, stats.contended)
}

// ---- Killed inside Barrier.Wait ----

// killChildBarrier waits at the barrier "bar" after stopping at "ready",
// prints "RESULT index err" if Wait returns (it must not: it is killed
// inside), and stops at "returned". With the field "action", its handle
// has an action that stops at "action", to be killed there.
var killChildBarrier = segChild("sem-kill-barrier", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	x, err := OpenBarrier(context.Background(), seg, "bar")
	if err != nil {
		return err
	}
	if slices.Contains(f, "action") {
		x.SetAction(func() error {
			c.Point("action")
			return errors.New("not killed in the action")
		})
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	c.Point("ready")
	i, err := x.Wait(ctx)
	fmt.Printf("RESULT %d %s\n", i, mpErrClass(err))
	c.Point("returned")
	return nil
})

// killBarrierRound has three goroutines pass x together, and checks they
// get the indices 0, 1 and 2.
func killBarrierRound(t testing.TB, ctx context.Context, x *Barrier) {
	t.Helper()
	var idx [3]int
	var errs [3]error
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			idx[g], errs[g] = x.Wait(ctx)
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatalf("a round after Reset: %v", err)
	}
	mpCheckIndices(t, 0, idx[:], 3)
}

// killWaitResult is what this process's Wait on a barrier returned, and
// when.
type killWaitResult struct {
	i   int
	err error
	at  time.Time
}

// killSurvive starts this process's Wait on x, as the party that survives
// a kill.
func killSurvive(ctx context.Context, x *Barrier) <-chan killWaitResult {
	ch := make(chan killWaitResult, 1)
	go func() {
		i, err := x.Wait(ctx)
		ch <- killWaitResult{i, err, time.Now()}
	}()
	return ch
}

// killWantBroken takes from got what this process's Wait returned after a
// party was killed at the time killed, fails t (what: the round) unless it
// is ErrBrokenBarrier, the death noticed, and adds the latency to lat.
func killWantBroken(t testing.TB, got <-chan killWaitResult, what string, killed time.Time, lat *killLatencies) {
	t.Helper()
	var res killWaitResult
	select {
	case res = <-got:
	case <-time.After(mpTimeout):
		t.Fatalf("%s: Wait still waiting %v after a party was killed in it", what, mpTimeout)
	}
	if !errors.Is(res.err, ErrBrokenBarrier) || errors.Is(res.err, context.DeadlineExceeded) {
		t.Fatalf("%s: Wait with a party killed: index %d, %v; want ErrBrokenBarrier (the death noticed)", what, res.i, res.err)
	}
	lat.add(t, res.at.Sub(killed))
}

// TestKillInsideBarrierWait: a party of a barrier of 3 is killed inside
// Wait, with this process waiting there already or arriving after the
// death: this process gets ErrBrokenBarrier, never hangs and never passes;
// the barrier stays broken until Reset, and then works again.
//
// This process is never the last party to arrive: a last arrival
// releases the round without looking at the others, so that a party dead
// inside Wait counts as passed then (it had arrived). The first round of a
// new barrier is passed normally before the kills: see
// TestMultiprocBarrierSlowParty for what happens in round 0.
func TestKillInsideBarrierWait(t *testing.T) {
	t.Parallel()
	seg, x := barrier3(t)
	rng := killRand(t)
	ctxs := newKillContexts(t)
	killBarrierRound(t, ctxs.next(), x)
	series := newKillSeries(killRounds, func() *testproc.Proc { return shmtest.Start(t, mpChildTimeout, killChildBarrier, seg.Name()) })
	var lat killLatencies
	orders := [3]int{}
	for round := range killRounds {
		ctx := ctxs.next()
		p := series.child()
		p.WaitPoint("ready")
		// 0: we wait first; 1: we arrive after the child was reaped;
		// 2: we arrive right after the kill.
		order := rng.IntN(3)
		orders[order]++
		var got <-chan killWaitResult
		if order == 0 {
			got = killSurvive(ctx, x)
			mpEventually(t, "this process waits", func() bool { return x.Waiting() == 1 })
		}
		p.Continue()
		want := 1 + map[bool]int{true: 1}[order == 0]
		mpEventually(t, "the child waits", func() bool { return x.Waiting() == want })
		if rng.IntN(2) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
		killed := time.Now()
		p.Kill()
		if order == 1 {
			killMustDie(t, p)
		}
		if order != 0 {
			got = killSurvive(ctx, x)
		}
		killWantBroken(t, got, fmt.Sprintf("round %d (order %d)", round, order), killed, &lat)
		if res := p.Wait(); !res.Killed() || strings.Contains(res.Output, "RESULT") {
			t.Fatalf("round %d: the child was to be killed inside Wait; exit code %d, output:\n%s", round, res.ExitCode, res.Output)
		}
		if !x.Broken() || x.Waiting() != 0 {
			t.Fatalf("round %d: after the break: %v", round, x)
		}
		if _, err := x.Wait(ctx); !errors.Is(err, ErrBrokenBarrier) {
			t.Fatalf("round %d: Wait at a broken barrier: %v", round, err)
		}
		if err := x.Reset(); err != nil {
			t.Fatal(err)
		}
		killBarrierRound(t, ctx, x)
	}
	t.Logf("rounds by order (we waited first, arrived after the reap, arrived at once): %v", orders)
	lat.log(t, "ErrBrokenBarrier")
}

// killChildBarrierIndex does the first step of Barrier.Wait at the barrier
// "bar" by hand, as Wait does it: it takes the next arrival index. It stops
// at "taken", before recording itself in the index's slot, to be killed
// there: in the window Wait cannot close, where the others can only wait a
// while (unwrittenGrace) before they take the party for dead.
var killChildBarrierIndex = segChild("sem-kill-barrier-index", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	x, err := OpenBarrier(context.Background(), seg, "bar")
	if err != nil {
		return err
	}
	c.Point("ready")
	if st := atomic.AddUint64(x.state, 1); int(st&bCount) >= x.parties || st&bBroken != 0 {
		return fmt.Errorf("took an index in state %#x", st)
	}
	c.Point("taken")
	return errors.New("not killed at \"taken\"")
})

// TestKillBarrierPartyBeforeRecord: a party killed between taking its
// arrival index and recording itself breaks the barrier too, after
// unwrittenGrace, whether this process waited before it or arrives after.
// A few rounds only: each takes a second.
func TestKillBarrierPartyBeforeRecord(t *testing.T) {
	t.Parallel()
	seg, x := barrier3(t)
	ctx := mpContext(t)
	killBarrierRound(t, ctx, x) // past round 0: see TestMultiprocBarrierSlowParty
	var lat killLatencies
	for round, first := range []bool{true, false} {
		p := shmtest.Start(t, mpChildTimeout, killChildBarrierIndex, seg.Name())
		p.WaitPoint("ready")
		var got <-chan killWaitResult
		if first {
			got = killSurvive(ctx, x)
			mpEventually(t, "this process waits", func() bool { return x.Waiting() == 1 })
		}
		p.WaitPoint("taken")
		killed := time.Now()
		p.Kill()
		killMustDie(t, p)
		if !first {
			got = killSurvive(ctx, x)
		}
		killWantBroken(t, got, fmt.Sprintf("round %d, killed before recording itself", round), killed, &lat)
		if err := x.Reset(); err != nil {
			t.Fatal(err)
		}
		killBarrierRound(t, ctx, x)
	}
	lat.log(t, "ErrBrokenBarrier (party killed before recording itself)")
}

// ---- Killed inside Cond.Wait ----

// killChildCond uses the Cond whose handle it is given ("seg handle
// mode"), after stopping at "ready": it locks the mutex and, in mode
// "hold", stops at "locked" to be killed holding it; in mode "wait" it
// waits on the Cond, and if woken, marks the words block's marker while it
// holds the mutex, printing WOKEN, UNLOCKING and UNLOCKED as it goes, then
// stops at "done".
var killChildCond = segChild("sem-kill-cond", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	b, err := hex.DecodeString(f[0])
	if err != nil {
		return err
	}
	var cv Cond
	if err := cv.UnmarshalBinary(b); err != nil {
		return err
	}
	mu := cv.Mutex()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	marker := mem.Uint32(w, mpWMarker)
	id := uint32(os.Getpid())
	ctx, cancel := mpChildContext(0)
	defer cancel()
	c.Point("ready")
	if err := mu.Lock(); err != nil {
		return err
	}
	if f[1] == "hold" {
		c.Point("locked")
		return errors.New("not killed at \"locked\"")
	}
	if err := cv.Wait(ctx); err != nil {
		return fmt.Errorf("Wait: %w", err)
	}
	fmt.Println("WOKEN")
	if m := atomic.SwapUint32(marker, id); m != 0 {
		return fmt.Errorf("marker %d when Wait returned", m)
	}
	time.Sleep(time.Millisecond) // a window for the kill to land in
	if m := atomic.SwapUint32(marker, 0); m != id {
		return fmt.Errorf("marker %d inside the critical section", m)
	}
	fmt.Println("UNLOCKING")
	mu.Unlock()
	fmt.Println("UNLOCKED")
	c.Point("done")
	return nil
})

// TestKillInsideCondWait: of three processes waiting on a Cond (two
// goroutines of this one and a child), the child is killed: while it waits
// (Signal then still wakes each survivor, one per Signal), while it holds
// the mutex before waiting (the next locker, this test locking it to
// notify, gets ErrOwnerDead; the survivors are still woken), or at a random moment after a Broadcast
// woke all three (the survivors return; ErrOwnerDead goes to exactly one
// locker when it died holding the mutex, to none when it did not). Each
// round has a new Mutex and Cond.
func TestKillInsideCondWait(t *testing.T) {
	t.Parallel()
	seg := testSeg(t)
	w := mpWords(t, seg)
	marker := mem.Uint32(w, mpWMarker)
	rng := killRand(t)
	ctxs := newKillContexts(t)
	type child struct {
		p    *testproc.Proc
		cv   *Cond
		mode int // 0: dies waiting; 1: dies holding the mutex; 2: dies after a Broadcast
	}
	series := newKillSeries(killRounds, func() child {
		mu := mustMutex(t, shm.In(seg, ""))
		cv := mustCond(t, mu)
		mode := rng.IntN(3)
		arg := map[bool]string{true: "hold", false: "wait"}[mode == 1]
		return child{shmtest.Start(t, mpChildTimeout, killChildCond, seg.Name(), mpHex(t, cv), arg), cv, mode}
	})
	type result struct {
		err error
		bad string
	}
	var modes, deadRounds [3]int
	for round := range killRounds {
		ctx := ctxs.next()
		c := series.child()
		p, cv := c.p, c.cv
		mu := cv.Mutex()
		modes[c.mode]++
		waiter := func() <-chan result {
			ch := make(chan result, 1)
			n := cv.Waiting()
			go func() {
				if err := mu.LockContext(ctx); err != nil {
					ch <- result{fmt.Errorf("Lock before Wait: %w", err), ""}
					return
				}
				err := cv.Wait(ctx)
				var bad string
				id := uint32(os.Getpid())
				if mu.Owner() != os.Getpid() {
					bad = fmt.Sprintf("Wait returned (%v) without the mutex (owner %d)", err, mu.Owner())
				} else if m := atomic.SwapUint32(marker, id); err == nil && m != 0 {
					bad = fmt.Sprintf("mutex taken normally while %d is inside", m)
				}
				if mu.Owner() == os.Getpid() {
					runtime.Gosched()
					if m := atomic.SwapUint32(marker, 0); m != id && bad == "" {
						bad = fmt.Sprintf("marker %d inside the critical section", m)
					}
					mu.Unlock()
				}
				ch <- result{err, bad}
			}()
			mpEventually(t, "a goroutine waits", func() bool { return cv.Waiting() == n+1 })
			return ch
		}
		gs := []<-chan result{waiter(), waiter()}
		// next returns the first survivor to return, and which it was.
		next := func(what string) (int, result) {
			t.Helper()
			select {
			case r := <-gs[0]:
				return 0, r
			case r := <-gs[1]:
				return 1, r
			case <-time.After(mpTimeout):
				t.Fatalf("round %d (mode %d): %s: no waiter returned within %v", round, c.mode, what, mpTimeout)
			}
			return 0, result{}
		}
		dead := 0
		check := func(r result) {
			t.Helper()
			switch {
			case r.bad != "":
				t.Fatalf("round %d (mode %d): %s", round, c.mode, r.bad)
			case errors.Is(r.err, ErrOwnerDead):
				dead++
			case r.err != nil:
				t.Fatalf("round %d (mode %d): a survivor's Wait: %v", round, c.mode, r.err)
			}
		}
		// notify locks the mutex (counting an ErrOwnerDead) to call f.
		notify := func(f func() error) {
			t.Helper()
			err := mu.LockContext(ctx)
			switch {
			case errors.Is(err, ErrOwnerDead):
				dead++
				atomic.StoreUint32(marker, 0)
			case err != nil:
				t.Fatalf("round %d (mode %d): Lock to notify: %v", round, c.mode, err)
			case atomic.LoadUint32(marker) != 0:
				t.Fatalf("round %d (mode %d): Lock to notify taken normally with %d inside", round, c.mode, atomic.LoadUint32(marker))
			}
			if err := f(); err != nil {
				t.Fatal(err)
			}
			mu.Unlock()
		}
		heldByDead := false
		switch c.mode {
		case 0, 2:
			p.WaitPoint("ready")
			p.Continue()
			mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 3 })
			if c.mode == 2 {
				notify(cv.Broadcast)
			}
			if c.mode == 2 || rng.IntN(2) == 0 {
				time.Sleep(time.Duration(rng.IntN(4000)) * time.Microsecond)
			}
			p.Kill()
		case 1:
			p.WaitPoint("locked")
			p.Kill()
		}
		out := p.Wait()
		if !out.Killed() {
			t.Fatalf("round %d: child not killed: exit code %d\n%s", round, out.ExitCode, out.Output)
		}
		if c.mode != 2 {
			// Nobody can take the mutex before we do: see who holds it.
			heldByDead = mu.Owner() == p.Pid()
			if c.mode == 1 && !heldByDead || strings.Contains(out.Output, "WOKEN") {
				t.Fatalf("round %d (mode %d): owner %d, child %d, output:\n%s", round, c.mode, mu.Owner(), p.Pid(), out.Output)
			}
		}
		broadcast := c.mode == 1 && rng.IntN(2) == 0
		if broadcast {
			// Wake both at once.
			notify(cv.Broadcast)
		}
		if c.mode != 2 && !broadcast {
			// One Signal wakes one survivor, whoever it is.
			notify(cv.Signal)
			first, r := next("after one Signal")
			check(r)
			select {
			case r := <-gs[1-first]:
				t.Fatalf("round %d (mode %d): one Signal woke both survivors (%v)", round, c.mode, r.err)
			default:
			}
			gs = []<-chan result{gs[1-first], make(chan result)}
			notify(cv.Signal)
			_, r = next("after a second Signal")
			check(r)
		} else {
			for range 2 {
				_, r := next("after Broadcast")
				check(r)
			}
		}
		// Every lock since the death is done: ours is the last.
		err := mu.LockContext(ctx)
		if errors.Is(err, ErrOwnerDead) {
			dead++
			atomic.StoreUint32(marker, 0)
		} else if err != nil {
			t.Fatalf("round %d: final Lock: %v", round, err)
		} else if m := atomic.LoadUint32(marker); m != 0 {
			t.Fatalf("round %d: final Lock taken normally with %d inside", round, m)
		}
		mu.Unlock()
		var want []int
		switch {
		case c.mode == 1 || heldByDead:
			want = []int{1}
		case c.mode == 0:
			want = []int{0}
		case strings.Contains(out.Output, "UNLOCKED") || !strings.Contains(out.Output, "WOKEN"):
			// Freed it, or died inside Wait (holding it only if killed in
			// its last instructions): at most once.
			want = []int{0, 1}
			if strings.Contains(out.Output, "UNLOCKED") {
				want = []int{0}
			}
		case !strings.Contains(out.Output, "UNLOCKING"):
			want = []int{1} // woken, holding it
		default:
			want = []int{0, 1} // killed inside Unlock
		}
		if !slices.Contains(want, dead) {
			t.Fatalf("round %d (mode %d): %d ErrOwnerDead, want one of %v; child output:\n%s", round, c.mode, dead, want, out.Output)
		}
		if dead == 1 {
			deadRounds[c.mode]++
		}
		if o := mu.Owner(); o != 0 {
			t.Fatalf("round %d: owner %d after the round", round, o)
		}
		cv.o.Free()
		mu.o.Free()
	}
	t.Logf("rounds by mode (dies waiting, dies holding the mutex, dies after Broadcast): %v; of them with an ErrOwnerDead: %v", modes, deadRounds)
}

// ---- Killed waiting on, or holding, a Cond's RLock ----

// killRCondDepth is how many times every process enters the RLock before
// it waits on the Cond: Wait must release it whatever the depth.
const killRCondDepth = 2

// killChildRCond uses the Cond on an RLock whose handle it is given ("seg
// handle mode"), after stopping at "ready": it enters the RLock
// killRCondDepth times and waits. Mode "wait" is killed asleep. Woken, it
// checks that it holds the RLock at that depth and prints WOKEN; in mode
// "signal" it then signals, printing SIGNALLED; in both modes "hold" and
// "signal" it stops at "woken", to be killed holding the RLock.
var killChildRCond = segChild("sem-kill-rcond", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	b, err := hex.DecodeString(f[0])
	if err != nil {
		return err
	}
	var cv Cond
	if err := cv.UnmarshalBinary(b); err != nil {
		return err
	}
	rl, ok := cv.L().(*RLock)
	if !ok {
		return fmt.Errorf("the Cond attached to %v, not its RLock", cv.L())
	}
	ctx, cancel := mpChildContext(0)
	defer cancel()
	c.Point("ready")
	if err := cpEnter(ctx, rl, killRCondDepth); err != nil {
		return err
	}
	if err := cv.Wait(ctx); err != nil {
		return fmt.Errorf("Wait: %w", err)
	}
	if err := cpHolds(rl, killRCondDepth, true); err != nil {
		return fmt.Errorf("Wait returned: %w", err)
	}
	fmt.Println("WOKEN")
	if f[1] == "signal" {
		if err := cv.Signal(); err != nil {
			return err
		}
		fmt.Println("SIGNALLED")
	}
	c.Point("woken")
	return errors.New("not killed at \"woken\"")
})

// TestKillInsideRCondWait: a child and then two goroutines of this process
// wait on a Cond over an RLock, each having entered it twice, and the
// child is killed, killRounds/4 times each way:
//
//   - asleep in Wait ("wait", half the rounds): two Signals wake the two
//     goroutines, one each, passing over the dead child; nobody is told
//     ErrOwnerDead, the RLock being free when it died;
//   - holding the RLock, at depth 2, after a Signal woke it ("hold"): the
//     next taker, this test locking it to notify, gets ErrOwnerDead, and
//     two Signals then wake the goroutines, one each;
//   - holding it after it signalled the first goroutine in turn
//     ("signal"): that goroutine's Wait, the next taker, returns
//     ErrOwnerDead holding the RLock at its own depth, and a Signal wakes
//     the other.
//
// Each goroutine returns from Wait holding the RLock at depth 2; exactly
// one taker is told ErrOwnerDead when the child died holding it.
func TestKillInsideRCondWait(t *testing.T) {
	t.Parallel()
	seg := testSeg(t)
	ctxs := newKillContexts(t)
	const rounds = killRounds / 2
	modes := []string{"wait", "hold", "wait", "signal"}
	type child struct {
		p    *testproc.Proc
		cv   *Cond
		mode string
	}
	next := 0
	series := newKillSeries(rounds, func() child {
		rl := mustRLock(t, shm.In(seg, ""))
		cv := mustCond(t, rl)
		mode := modes[next%len(modes)]
		next++
		return child{shmtest.Start(t, mpChildTimeout, killChildRCond, seg.Name(), mpHex(t, cv), mode), cv, mode}
	})
	var lat killLatencies
	for round := range rounds {
		ctx := ctxs.next()
		c := series.child()
		p, cv := c.p, c.cv
		rl := cv.L().(*RLock)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("round %d (%s): %s", round, c.mode, fmt.Sprintf(format, args...))
		}
		p.WaitPoint("ready")
		p.Continue()
		// A waiter's ticket is issued before it lets the RLock go: wait
		// for both, or a Lock of this process could take the child's
		// hold mid-release (the child killed holding it).
		mpEventually(t, "the child waits", func() bool { return cv.Waiting() == 1 && rl.Owner() == 0 })
		// Each goroutine enters the RLock twice and waits, then sends
		// Wait's error once it has checked its hold and left the RLock;
		// at is when Wait returned.
		type waiting struct {
			ch <-chan error
			at *time.Time
		}
		waiter := func() waiting {
			ch := make(chan error, 1)
			at := new(time.Time)
			n := cv.Waiting()
			ctx := condGoroutine(t, ctx)
			go func() {
				defer condExited(ctx)
				if err := cpEnter(ctx, rl, killRCondDepth); err != nil {
					ch <- fmt.Errorf("Lock before Wait: %w", err)
					return
				}
				err := cv.Wait(ctx)
				*at = time.Now()
				if herr := cpHolds(rl, killRCondDepth, true); herr != nil {
					ch <- fmt.Errorf("Wait returned (%v): %w", err, herr)
					return
				}
				cpLeave(rl, killRCondDepth)
				ch <- err
			}()
			// Until the goroutine has let the RLock go too, a Lock of
			// another goroutine here would enter its hold (re-entry is
			// per process) and share its levels.
			mpEventually(t, "a goroutine waits", func() bool { return cv.Waiting() == n+1 && rl.Owner() == 0 })
			return waiting{ch, at}
		}
		gs := []waiting{waiter(), waiter()}
		dead := 0
		// notify locks the RLock once (counting an ErrOwnerDead) to call f.
		notify := func(f func() error) {
			t.Helper()
			err := rl.LockContext(ctx)
			switch {
			case errors.Is(err, ErrOwnerDead):
				dead++
			case err != nil:
				fail("Lock to notify: %v", err)
			}
			if err := f(); err != nil {
				fail("%v", err)
			}
			rl.Unlock()
		}
		// woken checks that a Signal woke gs[0] alone, with want, and
		// leaves gs[1] to the next. It returns when gs[0]'s Wait returned.
		woken := func(want error) time.Time {
			t.Helper()
			var second <-chan error // nil, never ready, when gs[0] is the last
			if len(gs) > 1 {
				second = gs[1].ch
			}
			at := gs[0].at
			select {
			case err := <-gs[0].ch:
				if !errors.Is(err, want) {
					fail("the goroutine that waited longest: Wait returned %v, want %v", err, want)
				}
			case err := <-second:
				fail("the goroutine that waited last woke first (%v)", err)
			case <-time.After(mpTimeout):
				fail("no goroutine returned within %v", mpTimeout)
			}
			gs = gs[1:]
			if len(gs) > 0 {
				mustNotReturn(t, gs[0].ch, fmt.Sprintf("round %d (%s): one Signal woke both goroutines", round, c.mode))
			}
			return *at
		}
		if c.mode != "wait" {
			notify(cv.Signal) // the child, the longest waiting
			p.WaitPoint("woken")
		}
		p.Kill()
		killedAt := time.Now()
		out := p.Wait()
		if !out.Killed() {
			fail("child not killed: exit code %d\n%s", out.ExitCode, out.Output)
		}
		if (c.mode == "wait") == strings.Contains(out.Output, "WOKEN") {
			fail("child output:\n%s", out.Output)
		}
		if c.mode == "wait" {
			if o := rl.Owner(); o != 0 {
				fail("owner %d with the child dead asleep", o)
			}
		} else if o := rl.Owner(); c.mode == "hold" && o != p.Pid() {
			// (In mode "signal" the goroutine it woke may have taken over.)
			fail("owner %d, want the dead child %d", o, p.Pid())
		}
		if c.mode == "signal" {
			// It died having signalled; the goroutine it woke takes over.
			lat.add(t, woken(ErrOwnerDead).Sub(killedAt))
			dead++
		} else {
			notify(cv.Signal)
			if c.mode == "hold" {
				lat.add(t, time.Since(killedAt))
			}
			woken(nil)
		}
		notify(cv.Signal)
		woken(nil)
		want := map[bool]int{true: 0, false: 1}[c.mode == "wait"]
		if dead != want {
			fail("%d ErrOwnerDead, want %d; child output:\n%s", dead, want, out.Output)
		}
		if err := rl.LockContext(ctx); err != nil {
			fail("final Lock: %v", err)
		}
		rl.Unlock()
		if o, k := rl.Owner(), cv.Waiting(); o != 0 || k != 0 {
			fail("owner %d, Waiting %d after the round", o, k)
		}
		cv.o.Free()
		rl.o.Free()
	}
	lat.log(t, "ErrOwnerDead (RLock holder killed after Wait)")
}
