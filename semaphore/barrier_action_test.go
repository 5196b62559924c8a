//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"fmt"
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

// The words the action tests share, in the words block.
const (
	actWArrived = 24 // u32: parties that arrived, over all rounds
	actWActions = 28 // u32: actions run
	actWBad     = 32 // u32: checks an action or a released party failed
)

// actParty is one party of the action tests, in any process: it does
// rounds rounds at x with its own action, which fails in round failRound,
// and prints "RESULT round index ran class" for each (ran: whether its own
// action ran that round). An action checks that every party of its round
// has arrived; a released party, that its round's action has run.
func actParty(ctx context.Context, x *Barrier, w []byte, rounds, failRound int, print func(r, i int, ran bool, err error)) {
	parties := uint32(x.Parties())
	for r := range rounds {
		ran := false
		x.SetAction(func() error {
			ran = true
			if got := atomic.LoadUint32(mem.Uint32(w, actWArrived)); got != uint32(r+1)*parties {
				atomic.AddUint32(mem.Uint32(w, actWBad), 1)
			}
			if r == failRound {
				return errors.New("action_failed")
			}
			atomic.AddUint32(mem.Uint32(w, actWActions), 1)
			return nil
		})
		atomic.AddUint32(mem.Uint32(w, actWArrived), 1)
		i, err := x.Wait(ctx)
		if err == nil && atomic.LoadUint32(mem.Uint32(w, actWActions)) != uint32(r+1) {
			atomic.AddUint32(mem.Uint32(w, actWBad), 1)
		}
		print(r, i, ran, err)
		if err != nil {
			return
		}
	}
}

// actClass is mpErrClass, telling the action's own error apart.
func actClass(err error) string {
	if err != nil && strings.Contains(err.Error(), "action_failed") {
		return "action+" + mpErrClass(err)
	}
	return mpErrClass(err)
}

var actChildParty = segChild("sem-barrier-action", func(c *testproc.Child, seg *shm.Segment, f []string) error {
	args, err := childInts(f, 0, 1)
	if err != nil {
		return err
	}
	x, err := OpenBarrier(context.Background(), seg, "bar")
	if err != nil {
		return err
	}
	defer x.Close()
	w, err := mpFindWords(seg)
	if err != nil {
		return err
	}
	c.Point("go")
	ctx, cancel := mpChildContext(0)
	defer cancel()
	actParty(ctx, x, w, args[0], args[1], func(r, i int, ran bool, err error) {
		fmt.Printf("RESULT %d %d %v %s\n", r, i, ran, actClass(err))
	})
	return nil
})

// TestMultiprocBarrierAction: three processes and this one pass a barrier
// of 4 with an action each, for 30 rounds and a last whose actions fail.
// Each round, exactly one action runs, that of the last party to arrive
// (index 3), after all have arrived and before any is released; in the
// last round the party that ran the failing action gets its error and the
// others ErrBrokenBarrier.
func TestMultiprocBarrierAction(t *testing.T) {
	const parties, rounds = 4, 31
	seg := testSeg(t)
	x := mustBarrier(t, parties, shm.In(seg, "bar"))
	w := mpWords(t, seg)
	var ps []*testproc.Proc
	for range parties - 1 {
		ps = append(ps, shmtest.Start(t, mpChildTimeout, actChildParty, seg.Name(), strconv.Itoa(rounds), strconv.Itoa(rounds-1)))
	}
	mpGoAll(ps)
	type res struct {
		i     int
		ran   bool
		class string
	}
	got := make([][]res, rounds)
	actParty(mpContext(t), x, w, rounds, rounds-1, func(r, i int, ran bool, err error) {
		got[r] = append(got[r], res{i, ran, actClass(err)})
	})
	for _, p := range ps {
		for _, f := range mpResults(p.Succeed().Output) {
			r, _ := strconv.Atoi(f[0])
			i, _ := strconv.Atoi(f[1])
			got[r] = append(got[r], res{i, f[2] == "true", f[3]})
		}
	}
	for r, rs := range got {
		if len(rs) != parties {
			t.Fatalf("round %d: %d results, want %d: %v", r, len(rs), parties, rs)
		}
		ran := 0
		var idx []int
		for _, x := range rs {
			idx = append(idx, x.i)
			want := "nil"
			if r == rounds-1 {
				want = map[bool]string{true: "action+broken", false: "broken"}[x.ran]
			}
			if x.ran {
				ran++
				if x.i != parties-1 {
					t.Fatalf("round %d: the action ran in the party of index %d, not the last: %v", r, x.i, rs)
				}
			}
			if x.class != want {
				t.Fatalf("round %d: a party's Wait: %s, want %s: %v", r, x.class, want, rs)
			}
		}
		if ran != 1 {
			t.Fatalf("round %d: %d actions ran, want 1: %v", r, ran, rs)
		}
		mpCheckIndices(t, r, idx, parties)
	}
	if a, bad := mpLoad(w, actWActions), mpLoad(w, actWBad); a != rounds-1 || bad != 0 {
		t.Fatalf("%d actions succeeded (want %d), %d ordering checks failed", a, rounds-1, bad)
	}
	if !x.Broken() {
		t.Fatal("not broken after a failed action")
	}
}

// TestBarrierActionPanics: an action that panics breaks the barrier for
// the others and goes on panicking in the party that ran it; Reset mends
// the barrier.
func TestBarrierActionPanics(t *testing.T) {
	x := mustBarrier(t, 3)
	defer x.Free()
	x.SetAction(func() error { panic("in the action") })
	ctx := mpContext(t)
	var wg sync.WaitGroup
	var errs [3]error
	var panics [3]any
	for g := range 3 {
		wg.Go(func() {
			defer func() { panics[g] = recover() }()
			_, errs[g] = x.Wait(ctx)
		})
	}
	wg.Wait()
	n := 0
	for g := range 3 {
		switch {
		case panics[g] == "in the action":
			n++
		case !errors.Is(errs[g], ErrBrokenBarrier) || panics[g] != nil:
			t.Fatalf("party %d: %v, panic %v", g, errs[g], panics[g])
		}
	}
	if n != 1 || !x.Broken() {
		t.Fatalf("%d parties panicked (want 1), broken %v", n, x.Broken())
	}
	if err := x.Reset(); err != nil {
		t.Fatal(err)
	}
	x.SetAction(nil)
	killBarrierRound(t, ctx, x)
}

// TestBarrierActionAbort: Abort while the action runs breaks the round: the
// party that ran it gets ErrBrokenBarrier when it returns, and so do the
// others; Waiting is Parties while it runs.
func TestBarrierActionAbort(t *testing.T) {
	x := mustBarrier(t, 2)
	defer x.Free()
	in, out := make(chan struct{}), make(chan struct{})
	x.SetAction(func() error { close(in); <-out; return nil })
	ctx := mpContext(t)
	a, b := killSurvive(ctx, x), killSurvive(ctx, x)
	<-in
	if x.Waiting() != 2 {
		t.Fatalf("while the action runs: %v", x)
	}
	if err := x.Abort(); err != nil {
		t.Fatal(err)
	}
	close(out)
	for _, ch := range []<-chan killWaitResult{a, b} {
		if r := <-ch; !errors.Is(r.err, ErrBrokenBarrier) {
			t.Fatalf("Wait with the round aborted in the action: %v", r.err)
		}
	}
}

// TestKillInsideBarrierAction: the last party of a barrier of 3 is killed
// inside its action, killRounds times, with this process and another
// waiting: both get
// ErrBrokenBarrier, neither hangs; after Reset the barrier works again.
func TestKillInsideBarrierAction(t *testing.T) {
	t.Parallel()
	seg, x := barrier3(t)
	ctx := mpContext(t)
	killBarrierRound(t, ctx, x)
	var lat killLatencies
	for round := range killRounds {
		what := fmt.Sprintf("round %d", round)
		p := shmtest.Start(t, mpChildTimeout, killChildBarrier, seg.Name(), "action")
		q := shmtest.Start(t, mpChildTimeout, killChildBarrier, seg.Name())
		p.WaitPoint("ready")
		q.WaitPoint("ready")
		got := killSurvive(ctx, x)
		q.Continue()
		mpEventually(t, "two parties wait", func() bool { return x.Waiting() == 2 })
		p.Continue()
		p.WaitPoint("action")
		killed := time.Now()
		p.Kill()
		killWantBroken(t, got, what, killed, &lat)
		if res := p.Wait(); !res.Killed() || strings.Contains(res.Output, "RESULT") {
			t.Fatalf("%s: the child was to be killed in its action; exit code %d, output:\n%s", what, res.ExitCode, res.Output)
		}
		q.WaitPoint("returned")
		q.Continue()
		if res := mpResults(q.Wait().Output); len(res) != 1 || res[0][1] != "broken" {
			t.Fatalf("%s: the other child's Wait: %v", what, res)
		}
		if !x.Broken() {
			t.Fatalf("%s: after the kill: %v", what, x)
		}
		if err := x.Reset(); err != nil {
			t.Fatal(err)
		}
		killBarrierRound(t, ctx, x)
	}
	lat.log(t, "ErrBrokenBarrier")
}

// TestBarrierActionExtraArrival: a Wait beyond the parties, arriving while
// the action runs, waits for the round to end and is the first of the
// next; while the action holds it, it is not counted.
func TestBarrierActionExtraArrival(t *testing.T) {
	x := mustBarrier(t, 2)
	defer x.Free()
	in, out := make(chan struct{}), make(chan struct{})
	var once sync.Once
	x.SetAction(func() error { once.Do(func() { close(in); <-out }); return nil })
	ctx := mpContext(t)
	a, b := killSurvive(ctx, x), killSurvive(ctx, x)
	<-in
	extra := killSurvive(ctx, x)
	select {
	case r := <-extra:
		t.Fatalf("a Wait beyond the parties returned while the action ran: %d, %v", r.i, r.err)
	case <-time.After(mpQuiet):
	}
	close(out)
	for _, ch := range []<-chan killWaitResult{a, b} {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	mpEventually(t, "the extra Wait is the next round's first", func() bool { return x.Waiting() == 1 })
	if i, err := x.Wait(ctx); i != 1 || err != nil {
		t.Fatalf("the next round's last: %d, %v", i, err)
	}
	if r := <-extra; r.i != 0 || r.err != nil {
		t.Fatalf("the extra Wait: %d, %v", r.i, r.err)
	}
}
