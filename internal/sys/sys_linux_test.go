//go:build linux

package sys_test

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edsrzf/mmap-go"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// sharedWord maps a fresh memfd and returns its first 4-byte word.
func sharedWord(t *testing.T) (*uint32, *os.File) {
	f, err := sys.Memfd("sys-test")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Fallocate(f, 4096); err != nil {
		t.Fatal(err)
	}
	m, err := mmap.Map(f, mmap.RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Unmap(); f.Close() })
	return mem.Uint32(m, 0), f
}

func TestFutexValueDiffers(t *testing.T) {
	w, _ := sharedWord(t)
	atomic.StoreUint32(w, 5)
	if err := sys.FutexWait(w, 4, -1); err != nil { // EAGAIN: returns at once
		t.Fatal(err)
	}
}

func TestFutexTimeouts(t *testing.T) {
	w, _ := sharedWord(t)
	start := time.Now()
	if err := sys.FutexWait(w, 0, 10*time.Millisecond); !errors.Is(err, sys.ErrTimedOut) {
		t.Fatalf("relative timeout: %v", err)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatal("returned before the timeout")
	}
	start = time.Now()
	if err := sys.FutexWaitUntil(w, 0, start.Add(10*time.Millisecond)); !errors.Is(err, sys.ErrTimedOut) {
		t.Fatalf("deadline: %v", err)
	}
	if time.Since(start) < 10*time.Millisecond {
		t.Fatal("returned before the deadline")
	}
	if err := sys.FutexWaitUntil(w, 0, time.Now().Add(-time.Second)); !errors.Is(err, sys.ErrTimedOut) {
		t.Fatalf("past deadline: %v", err)
	}
}

func TestFutexSurvivesSignals(t *testing.T) {
	w, _ := sharedWord(t)
	// Signals delivered to the process while it sleeps (EINTR) must not end
	// the wait early or extend it past its deadline.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				syscall.Kill(os.Getpid(), syscall.SIGURG)
				time.Sleep(time.Millisecond)
			}
		}
	}()
	defer close(stop)
	start := time.Now()
	err := sys.FutexWait(w, 0, 50*time.Millisecond)
	if !errors.Is(err, sys.ErrTimedOut) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("wait under signals: %v after %v", err, time.Since(start))
	}
}

// childWake maps the memfd it was passed, sets the word to 1 and wakes.
var childWake = testproc.Register("sys-wake", func(c *testproc.Child) error {
	m, err := mmap.Map(c.File(0), mmap.RDWR, 0)
	if err != nil {
		return err
	}
	w := mem.Uint32(m, 0)
	c.Point("mapped")
	atomic.StoreUint32(w, 1)
	_, err = sys.FutexWake(w, 1)
	return err
})

func TestFutexWakeAcrossProcesses(t *testing.T) {
	w, f := sharedWord(t)
	p := testproc.Start(t, childWake, testproc.Files(f))
	p.WaitPoint("mapped")
	p.Continue()
	for atomic.LoadUint32(w) == 0 {
		if err := sys.FutexWait(w, 0, -1); err != nil {
			t.Fatal(err)
		}
	}
	p.Succeed()
}

func TestPidRuns(t *testing.T) {
	if !sys.PidRuns(int32(os.Getpid())) {
		t.Fatal("this process does not run")
	}
	if sys.PidRuns(0) || sys.PidRuns(-1) {
		t.Fatal("pid 0 runs")
	}
	p := testproc.Start(t, childWake, testproc.Files(mustMemfd(t)))
	p.WaitPoint("mapped")
	if !sys.PidRuns(int32(p.Pid())) {
		t.Fatal("a live child does not run")
	}
	p.Kill()
	p.Wait()
	if sys.PidRuns(int32(p.Pid())) {
		t.Fatal("a reaped child runs")
	}
}

func mustMemfd(t *testing.T) *os.File {
	f, err := sys.Memfd("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.Fallocate(f, 4096); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestTempFileLink(t *testing.T) {
	dir := t.TempDir()
	f, err := sys.TempFile(dir, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sys.Link(f, dir+"/a"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir + "/a")
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("linked file: %v %v", err, fi.Mode())
	}
	os.Symlink(dir+"/target", dir+"/link")
	if err := sys.Link(f, dir+"/link"); !errors.Is(err, os.ErrExist) {
		t.Fatalf("link over a symlink: %v", err)
	}
	if _, err := os.Lstat(dir + "/target"); err == nil {
		t.Fatal("link followed the symlink")
	}
	if _, err := sys.OpenNoFollow(dir+"/link", false); !errors.Is(err, sys.ErrSymlink) {
		t.Fatalf("open of a symlink: %v", err)
	}
	if _, err := sys.OpenNoFollow(dir, false); !errors.Is(err, sys.ErrNotRegular) {
		t.Fatalf("open of a directory: %v", err)
	}
	if err := sys.SealSize(f); err == nil {
		t.Fatal("sealed a file that is not a memfd")
	}
}

// TestMembarrier: where the kernel offers global expedited membarriers,
// a process registers and then any process's barrier succeeds.
func TestMembarrier(t *testing.T) {
	if !sys.MembarrierSupported() {
		t.Skip("no global expedited membarrier here")
	}
	if err := sys.MembarrierRegister(); err != nil {
		t.Fatalf("registering: %v", err)
	}
	if err := sys.MembarrierRegister(); err != nil {
		t.Fatalf("registering again: %v", err)
	}
	if err := sys.MembarrierGlobal(); err != nil {
		t.Fatalf("barrier: %v", err)
	}
}
