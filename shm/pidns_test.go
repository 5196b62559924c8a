//go:build linux && (amd64 || arm64)

package shm

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/testproc"
)

// TestCreatorInPidNamespace: Open waits for a creator that runs in another
// pid namespace (a container sharing /dev/shm, not pids) while it lives,
// whether it sees its own /proc or the host's, and reports ErrCreatorDied
// once it is killed.
func TestCreatorInPidNamespace(t *testing.T) {
	testproc.InPidNamespaces(t, func(t *testing.T, own bool) {
		seg := testName(t)
		t.Cleanup(func() { Unlink(seg) })
		p := testproc.Start(t, childCreateSlow, testproc.Arg(seg), testproc.PidNamespace(own))
		p.WaitPoint("before-ready")
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			s, err := Open(ctx, seg, nil)
			cancel()
			if err == nil {
				s.Close()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Open while a live creator in another pid namespace makes the segment: %v, want DeadlineExceeded", err)
			}
		}
		p.Kill()
		p.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := Open(ctx, seg, nil); !errors.Is(err, ErrCreatorDied) {
			t.Fatalf("Open after the creator was killed: %v, want ErrCreatorDied", err)
		}
	})
}
