//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/internal/testproc"
	"github.com/shmkit/shmkit/shm"
)

// deathHolder takes the Mutex "mu" of the segment its argument names and
// stops at "locked", holding it, to be killed.
var deathHolder = segChild("sem-death-holder", func(c *testproc.Child, seg *shm.Segment, _ []string) error {
	mu, err := OpenMutex(context.Background(), seg, "mu")
	if err != nil {
		return err
	}
	if err := mu.Lock(); err != nil {
		return err
	}
	c.Point("locked")
	time.Sleep(time.Hour)
	return nil
})

// BenchmarkOwnerDeath measures how long a locker already waiting for a
// Mutex takes to get it, with ErrOwnerDead, after its holder in another
// process is sent SIGKILL: the time to notice a death. Each op is one
// holder, started, locked and killed (only the kill to ErrOwnerDead is
// timed); run it with -benchtime=Nx. It reports the median and the
// slowest of the ops.
func BenchmarkOwnerDeath(b *testing.B) {
	seg := shmtest.Seg(b)
	mu := mustMutex(b, shm.In(seg, "mu"))
	var lat []time.Duration
	b.ReportAllocs()
	b.StopTimer()
	for range b.N {
		p := testproc.Start(b, deathHolder, testproc.Arg(seg.Name()))
		p.WaitPoint("locked")
		got := make(chan error, 1)
		go func() { got <- mu.Lock() }()
		time.Sleep(10 * time.Millisecond) // the locker is asleep by now
		b.StartTimer()
		start := time.Now()
		p.Kill()
		err := <-got
		d := time.Since(start)
		b.StopTimer()
		if !errors.Is(err, ErrOwnerDead) {
			b.Fatalf("Lock after the holder was killed: %v, want ErrOwnerDead", err)
		}
		lat = append(lat, d)
		mu.Unlock()
		p.Wait()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "ms-median")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "ms-max")
}
