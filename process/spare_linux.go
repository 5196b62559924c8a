package process

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/shmkit/shmkit/internal/sys"
	"github.com/shmkit/shmkit/shm"
)

// A spare is a child started ahead with envSpare (see runSpare), waiting
// for its order on its argument descriptor. It is the same program, with
// the same descriptors, as a child started for a function: only what it
// runs comes later. It carries what it was started with, so that a spare
// that would not see what a child started now sees is not used.
type spare struct {
	cmd     *exec.Cmd
	orders  *os.File // the order goes here; closed with none, the spare exits
	parentW *os.File // held open while the spare or its child runs
	exitR   *os.File // spareReady, spareTook, then the child's exitReport
	exited  chan struct{}
	said    chan struct{} // closed once it said spareReady, or died first

	env    []string // this package's variables left out
	dir    string
	segs   []*shm.Segment
	stdout [2]uint64 // device and inode of os.Stdout and os.Stderr
	stderr [2]uint64

	ready atomic.Bool // it said spareReady
	// Under spares' lock:
	taken bool // handed a function: its Process, not spares, owns it now
	ended bool // killed by this package, not dead of its own accord
}

// spares are the spare children of this process, oldest first, and what
// keeps their number.
var spares = struct {
	sync.Mutex
	gone    sync.Cond // signalled when alive drops
	want    int       // as Spares set it
	wanted  atomic.Bool
	idle    []*spare
	filling bool        // a filler runs
	failed  bool        // a spare died before it was ready, or could not start
	alive   int         // the filler, and spares not taken that were not reaped
	proven  atomic.Bool // a spare was ready once: the program calls Main
}{}

func init() { spares.gone.L = &spares.Mutex }

func setSpares(n int) error {
	spares.Lock()
	spares.want, spares.failed = n, false
	spares.wanted.Store(n > 0)
	var extra []*spare
	if len(spares.idle) > n {
		extra = slices.Clone(spares.idle[n:]) // the newest
		spares.idle = slices.Delete(spares.idle, n, len(spares.idle))
	}
	for _, s := range extra {
		s.ended = true
	}
	fillLocked()
	spares.Unlock()
	for _, s := range extra {
		s.cmd.Process.Kill()
	}
	if n > 0 {
		return nil
	}
	spares.Lock()
	for spares.alive > 0 && spares.want == 0 {
		spares.gone.Wait()
	}
	spares.Unlock()
	return nil
}

// fillLocked starts the filler if spares are missing.
func fillLocked() {
	if spares.filling || spares.failed || len(spares.idle) >= spares.want {
		return
	}
	spares.filling = true
	spares.alive++
	go fill()
}

// fill starts spares, one after the other, until there are enough.
func fill() {
	spares.Lock()
	defer spares.Unlock()
	for !spares.failed && len(spares.idle) < spares.want {
		spares.Unlock()
		s, err := startSpare()
		spares.Lock()
		if err != nil {
			spares.failed = true
			logger().Warn("spares off: starting one: " + err.Error())
			break
		}
		spares.alive++
		go s.watch()
		if len(spares.idle) >= spares.want {
			s.ended = true
			s.cmd.Process.Kill()
			continue
		}
		spares.idle = append(spares.idle, s)
	}
	spares.filling = false
	spares.alive--
	spares.gone.Broadcast()
}

// startSpare starts a spare, from the thread that starts daemons: the
// parent-death signal a spare sets once it is made a daemon fires when
// the thread that started it ends.
func startSpare() (*spare, error) {
	var fs [6]*os.File // orderR, orderW, parentR, parentW, exitR, exitW
	for i := 0; i < len(fs); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(fs[:i]...)
			return nil, err
		}
		fs[i], fs[i+1] = r, w
	}
	s := &spare{orders: fs[1], parentW: fs[3], exitR: fs[4], exited: make(chan struct{}), said: make(chan struct{})}
	s.env = raceEnv(cleanEnv(os.Environ()))
	s.dir, _ = os.Getwd()
	s.segs = shm.DefaultHeap().Segments()
	s.stdout, s.stderr = fileID(os.Stdout), fileID(os.Stderr)
	files := []*os.File{fs[0], fs[2], fs[5]}
	for _, seg := range s.segs {
		files = append(files, seg.File())
	}
	s.cmd = exec.Command("/proc/self/exe")
	s.cmd.Args = []string{os.Args[0]}
	s.cmd.Env = slices.Concat(s.env, []string{
		envSpare + "=1",
		envSegments + "=" + strconv.Itoa(len(s.segs)),
	})
	s.cmd.Stdout, s.cmd.Stderr = os.Stdout, os.Stderr
	s.cmd.ExtraFiles = files
	err := startOnLockedThread(s.cmd)
	closeAll(fs[0], fs[2], fs[5])
	if err != nil {
		closeAll(fs[1], fs[3], fs[4])
		return nil, err
	}
	return s, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

func fileID(f *os.File) [2]uint64 {
	dev, ino, err := sys.FileID(f)
	if err != nil {
		return [2]uint64{}
	}
	return [2]uint64{dev, ino}
}

// watch reaps s. A spare that dies while it waits, of its own accord or
// killed, leaves the spares, and another is started; one that died
// before it was ready turns the spares off (a program that does not call
// Main first runs its main in every spare).
func (s *spare) watch() {
	go func() {
		var b [1]byte
		if n, _ := s.exitR.Read(b[:]); n == 1 && b[0] == spareReady {
			s.ready.Store(true)
			spares.proven.Store(true)
		}
		close(s.said)
	}()
	s.cmd.Wait()
	<-s.said
	close(s.exited)
	spares.Lock()
	if s.taken {
		spares.Unlock()
		return
	}
	if i := slices.Index(spares.idle, s); i >= 0 {
		spares.idle = slices.Delete(spares.idle, i, i+1)
	}
	if !s.ready.Load() && !s.ended {
		spares.failed = true
		logger().Warn("spares off: a spare died before it was ready: " + s.cmd.ProcessState.String())
	}
	s.closeFiles()
	spares.alive--
	spares.gone.Broadcast()
	fillLocked()
	spares.Unlock()
}

func (s *spare) closeFiles() { closeAll(s.orders, s.parentW, s.exitR) }

// takeSpare takes the oldest ready spare that sees what a child started
// now would, or else the oldest such spare still starting, and ends those
// that do not see it; nil when there is none. Another spare is started in
// its place in the background.
func takeSpare(env []string) *spare {
	if !spares.wanted.Load() {
		return nil
	}
	dir, _ := os.Getwd()
	segs := shm.DefaultHeap().Segments()
	stdout, stderr := fileID(os.Stdout), fileID(os.Stderr)
	var stale []*spare
	spares.Lock()
	var got *spare
	for i := 0; i < len(spares.idle); {
		s := spares.idle[i]
		if !slices.Equal(s.env, env) || s.dir != dir || !slices.Equal(s.segs, segs) || s.stdout != stdout || s.stderr != stderr {
			s.ended = true
			stale = append(stale, s)
			spares.idle = slices.Delete(spares.idle, i, i+1)
			continue
		}
		if (got == nil && (s.ready.Load() || spares.proven.Load())) || (got != nil && s.ready.Load() && !got.ready.Load()) {
			got = s
		}
		i++
	}
	if got != nil {
		spares.idle = slices.Delete(spares.idle, slices.Index(spares.idle, got), slices.Index(spares.idle, got)+1)
		got.taken = true
		spares.alive--
		spares.gone.Broadcast()
	}
	fillLocked()
	spares.Unlock()
	for _, s := range stale {
		s.cmd.Process.Kill()
	}
	return got
}

// handOff sends s its order to run p's function with arg, and makes p
// the child s becomes. A spare that is ready says it took the order
// before handOff returns: when it dies first, or was dead, handOff fails,
// s is discarded, and the function runs nowhere. A spare still starting
// reads the order once it is ready: handOff does not wait for that, and
// a spare that dies before is the child that died (its Join says how).
func (s *spare) handOff(p *Process, arg []byte) error {
	o := order{fn: p.target, name: p.name, parent: parentEnv(Current()), daemon: p.daemon, arg: arg}
	if l, ok := loggingLevel(); ok {
		o.level = strconv.Itoa(int(l))
	}
	b := o.append(make([]byte, 0, 64+len(p.target)+len(p.name)+len(arg)))
	ready := s.ready.Load()
	_, err := s.orders.Write(b)
	s.orders.Close()
	if err == nil && ready {
		var ack [1]byte
		if _, err = io.ReadFull(s.exitR, ack[:]); err == nil && ack[0] != spareTook {
			err = errBadOrder
		}
	}
	if err != nil {
		s.cmd.Process.Kill()
		go func() {
			<-s.exited
			s.closeFiles()
		}()
		return err
	}
	p.cmd, p.parentEnd, p.exitEnd, p.exited = s.cmd, s.parentW, s.exitR, s.exited
	if !ready {
		p.said = s.said
	}
	return nil
}
