//go:build linux && (amd64 || arm64)

package semaphore

import (
	"context"
	"errors"
	"testing"

	"github.com/shmkit/shmkit/shm"
)

// TestOtherLayoutRefused: an object of each kind placed with another
// layout fingerprint than this build's, as a program built with a release
// of shmkit whose layout of that kind differs would place it, is refused
// by its typed open and by its metrics reader with shm.ErrLayout, never
// read as this layout.
func TestOtherLayoutRefused(t *testing.T) {
	ctx := context.Background()
	seg := testSeg(t)
	second := func(_ any, err error) error { return err }
	kinds := []struct {
		what string
		info kindInfo
		open func(name string) error
	}{
		{"Mutex", mutexInfo, func(n string) error { return second(OpenMutex(ctx, seg, n)) }},
		{"RLock", rlockInfo, func(n string) error { return second(OpenRLock(ctx, seg, n)) }},
		{"RWMutex", rwmutexInfo, func(n string) error { return second(OpenRWMutex(ctx, seg, n)) }},
		{"Semaphore", semInfo, func(n string) error { return second(Open(ctx, seg, n)) }},
		{"Event", eventInfo, func(n string) error { return second(OpenEvent(ctx, seg, n)) }},
		{"Cond", condInfo, func(n string) error { return second(OpenCond(ctx, seg, n)) }},
		{"Barrier", barrierInfo, func(n string) error { return second(OpenBarrier(ctx, seg, n)) }},
	}
	for _, k := range kinds {
		sp := k.info.spec(0)
		sp.Fingerprint ^= 1 << 63
		o, err := shm.Place(sp, nil, shm.In(seg, "other-"+k.what))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.open("other-" + k.what); !errors.Is(err, shm.ErrLayout) {
			t.Errorf("opening the %s of another layout: %v, want shm.ErrLayout", k.what, err)
		}
		if _, err := shm.Metrics(o); !errors.Is(err, shm.ErrLayout) {
			t.Errorf("metrics of the %s of another layout: %v, want shm.ErrLayout", k.what, err)
		}
		o.Free()
	}
}
