package seqlock

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmkit/shmkit/internal/mem"
	"github.com/shmkit/shmkit/internal/testproc"
)

func TestMain(m *testing.M) { testproc.Main(m) }

// words is n zeroed, 8-byte aligned words as bytes.
func words(n int) []byte { return mem.SliceBytes(make([]uint64, n)) }

func TestWordCopies(t *testing.T) {
	for n := 0; n <= 41; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i*7 + 1)
		}
		m := words(6)
		for i := range m {
			m[i] = 0xee
		}
		Store(m, src)
		pad := (n + 7) &^ 7
		if !bytes.Equal(m[:n], src) || !bytes.Equal(m[n:pad], make([]byte, pad-n)) ||
			!bytes.Equal(m[pad:], bytes.Repeat([]byte{0xee}, len(m)-pad)) {
			t.Fatalf("Store of %d bytes: %x", n, m)
		}
		dst := bytes.Repeat([]byte{0xdd}, n)
		Load(dst, m)
		if !bytes.Equal(dst, src) {
			t.Fatalf("Load of %d bytes: %x, want %x", n, dst, src)
		}
		if !Equal(m, src) {
			t.Fatalf("Equal of %d bytes: false", n)
		}
		for i := range n {
			other := bytes.Clone(src)
			other[i]++
			if Equal(m, other) {
				t.Fatalf("Equal of %d bytes with byte %d changed: true", n, i)
			}
		}
	}
}

func TestSeqWord(t *testing.T) {
	var w uint64
	s := At(&w)
	e, ok := s.BeginRead()
	if !ok || e != 0 || !s.ReadOk(e) {
		t.Fatalf("fresh word: BeginRead %d %v, ReadOk %v", e, ok, s.ReadOk(e))
	}
	s.BeginWrite()
	if _, ok := s.BeginRead(); ok || s.ReadOk(e) || w != 1 {
		t.Fatalf("inside a write: word %d, BeginRead ok %v", w, ok)
	}
	s.BeginWrite() // a writer that died inside its change left it odd
	if w != 1 {
		t.Fatalf("BeginWrite of an odd word made it %d", w)
	}
	s.EndWrite()
	s.EndWrite()
	if e2, ok := s.BeginRead(); !ok || e2 != 2 || s.ReadOk(e) {
		t.Fatalf("after a write: word %d, epoch %d %v, old epoch ok %v", w, e2, ok, s.ReadOk(e))
	}
}

// pattern is the data of write k: every byte derived from k, so that half
// of one write and half of another is seen.
func pattern(b []byte, k uint64) {
	for i := range b {
		b[i] = byte(k) ^ byte(i*31)
	}
	if len(b) >= 8 {
		le.PutUint64(b, k)
	}
}

func whole(b []byte) bool {
	want := make([]byte, len(b))
	pattern(want, le.Uint64(b))
	return bytes.Equal(b, want)
}

// torn runs a writer calling write(k) for k = 1, 2, ... and readers calling
// read until the writer is done, and counts the readings read calls torn.
func torn(t *testing.T, write func(k uint64), read func() (ok bool)) {
	var done atomic.Bool
	var bad, reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !done.Load() {
				if !read() {
					bad.Add(1)
				}
				reads.Add(1)
			}
		})
	}
	deadline := time.Now().Add(200 * time.Millisecond)
	for k := uint64(1); time.Now().Before(deadline) || reads.Load() < 1000; k++ {
		write(k)
	}
	done.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d of %d readings torn", bad.Load(), reads.Load())
	}
}

func TestPairNeverTorn(t *testing.T) {
	const size = 100
	var seq uint64
	m := words(2 * 16)
	p := NewPair(&seq, m[:128], m[128:])
	src := make([]byte, size)
	torn(t, func(k uint64) {
		pattern(src, k)
		p.Store(src)
	}, func() bool {
		var dst [size]byte
		p.Load(dst[:])
		return whole(dst[:]) || le.Uint64(dst[:]) == 0
	})
}

func TestSeqNeverTorn(t *testing.T) {
	const size = 100
	var seq uint64
	s := At(&seq)
	m := words(16)
	src := make([]byte, size)
	torn(t, func(k uint64) {
		pattern(src, k)
		s.BeginWrite()
		Store(m, src)
		s.EndWrite()
	}, func() bool {
		var dst [size]byte
		for {
			e, ok := s.BeginRead()
			if !ok {
				continue
			}
			Load(dst[:], m)
			if s.ReadOk(e) {
				return whole(dst[:]) || le.Uint64(dst[:]) == 0
			}
		}
	})
}
