//go:build linux && (amd64 || arm64)

package ringbuffer

import (
	"io"
	"testing"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/shmtest"
	"github.com/shmkit/shmkit/shm"
)

// TestNewerVersionRefused: a ring, queue or pipe whose header carries a
// newer version than this build's, as a program built with a later shmkit
// would write it, is refused by every open and UnmarshalBinary with
// shm.ErrVersion (and ErrCorrupt), never read as this version's layout;
// with its own version back it opens again.
func TestNewerVersionRefused(t *testing.T) {
	ctx := xpContext(t)
	seg := testSeg(t)
	r, err := NewRing[int64](8, shm.In(seg, "ring"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue[string](8, shm.In(seg, "queue"))
	if err != nil {
		t.Fatal(err)
	}
	jq, err := NewJoinableQueue[int64](8, shm.In(seg, "joinable"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := newPipe[string](t, 4, shm.In(seg, "pipe"))
	rx, err := NewReceiver[int64](4, shm.In(seg, "oneway"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range []func() error{r.Free, q.Free, jq.Free, a.Free, rx.c.Free} {
			f()
		}
	}()
	shmtest.NewerVersionRefused(t, []shmtest.VersionCase{
		shmtest.Forge("ring", mem.Uint32(r.c.b, offVersion), version, map[string]func() (io.Closer, error){
			"OpenRing":        func() (io.Closer, error) { return OpenRing[int64](ctx, seg, "ring") },
			"UnmarshalBinary": func() (io.Closer, error) { x := new(Ring[int64]); return x, x.UnmarshalBinary(shmtest.Marshal(t, r)) },
		}),
		shmtest.Forge("queue", mem.Uint32(q.c.b, offVersion), version, map[string]func() (io.Closer, error){
			"OpenQueue":       func() (io.Closer, error) { return OpenQueue[string](ctx, seg, "queue") },
			"UnmarshalBinary": func() (io.Closer, error) { x := new(Queue[string]); return x, x.UnmarshalBinary(shmtest.Marshal(t, q)) },
		}),
		shmtest.Forge("joinable queue", mem.Uint32(jq.c.b, offVersion), version, map[string]func() (io.Closer, error){
			"OpenJoinableQueue": func() (io.Closer, error) { return OpenJoinableQueue[int64](ctx, seg, "joinable") },
			"UnmarshalBinary": func() (io.Closer, error) {
				x := new(JoinableQueue[int64])
				return x, x.UnmarshalBinary(shmtest.Marshal(t, jq))
			},
		}),
		shmtest.Forge("pipe", mem.Uint32(a.pipe.Bytes(), 0), pipeVersion, map[string]func() (io.Closer, error){
			"OpenPipe":        func() (io.Closer, error) { x, y, err := OpenPipe[string](ctx, seg, "pipe"); return closers{x, y}, err },
			"UnmarshalBinary": func() (io.Closer, error) { x := new(Conn[string]); return x, x.UnmarshalBinary(shmtest.Marshal(t, a)) },
		}),
		shmtest.Forge("one-way pipe", mem.Uint32(rx.c.pipe.Bytes(), 0), pipeVersion, map[string]func() (io.Closer, error){
			"OpenSender": func() (io.Closer, error) { return OpenSender[int64](ctx, seg, "oneway") },
		}),
	})
}

// closers closes each of its closers.
type closers []io.Closer

func (cs closers) Close() error {
	for _, c := range cs {
		c.Close()
	}
	return nil
}
