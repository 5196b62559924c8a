//go:build linux && (amd64 || arm64)

package process

// Fuzz targets for what a pool and its workers read from shared memory: a
// task or result message (poolmsg.go) and the values a codec decodes. A
// worker or pool that goes wrong may write anything there; the reader must
// reject it with an error, never panic, and whatever it accepts must be a
// message the encoders could have written: it re-encodes to an equivalent
// one. Run with
//
//	go test -run '^$' -fuzz FuzzParseTask -fuzztime 60s ./process
//
// (and FuzzParseResult, FuzzCodec); without -fuzz the seeds run as tests.

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
)

// fuzzPlain is a plain struct (ctypes): it travels as its bytes, padding
// included (4 bytes after A, 1 after C).
type fuzzPlain struct {
	A int32
	B int64
	C [3]uint16
	D int8
}

// fuzzGob is not plain (a string, a slice): it travels through gob.
type fuzzGob struct {
	Name string
	Tags []string
	N    int64
}

// fuzzSeeds is the messages that seed makes with add, from the codecs of
// ints and strings; an error from them fails t.
func fuzzSeeds(t testing.TB, seed func(add func([]byte, error), ints codec[int], strs codec[string])) [][]byte {
	var seeds [][]byte
	seed(func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}, codecFor[int](), codecFor[string]())
	return seeds
}

// fuzzTaskSeeds are task messages as a pool writes them: the header from
// appendTask, then the arguments from the codec of the Func.
func fuzzTaskSeeds(t testing.TB) [][]byte {
	return fuzzSeeds(t, func(add func([]byte, error), ints codec[int], strs codec[string]) {
		add(ints.append(appendTask(nil, 0, 0, 3, "square"), []int{1, 2, 3}))
		add(ints.append(appendTask(nil, 1<<40, maxItems, 1, "a"), []int{-1}))
		add(strs.append(appendTask(nil, 7, 12, 2, "shout"), []string{"a", "bad"}))
		add(strs.append(appendTask(nil, 8, 0, 1, "12345678"), []string{""})) // a name of 8: no padding
		add(appendTask(nil, 9, 1, maxItems, string(make([]byte, maxName))), nil)
	})
}

// fuzzResultSeeds are the messages a worker writes: results with and
// without errors, ready, an initializer's failure.
func fuzzResultSeeds(t testing.TB) [][]byte {
	return fuzzSeeds(t, func(add func([]byte, error), ints codec[int], strs codec[string]) {
		add(ints.append(appendResult(nil, msgResult, 3, 0, 3, nil), []int{1, 4, 9}))
		add(strs.append(appendResult(nil, msgResult, 4, 10, 3, []itemErr{
			{index: 1, msg: "bad input"},
		}), []string{"A", "", "C"}))
		add(appendResult(nil, msgResult, 5, 2, 2, []itemErr{
			{index: 0, msg: "boom", panic: true, stack: "goroutine 1 [running]:\nmain.main()\n"},
			{index: 1, msg: "x"},
		}), nil)
		add(appendResult(nil, msgReady, 0, 0, 0, nil), nil)
		add(appendResult(nil, msgInitFailed, 0, 0, 1, []itemErr{{msg: "init failed", panic: true, stack: "s"}}), nil)
		add(appendResult(nil, msgInitFailed, 0, 0, 1, []itemErr{{}}), nil)
	})
}

// fuzzParse fuzzes parse, the parser of one kind of message (what):
// seeded with mine, each of which must parse, the others and the empty
// message, it must leave its input as it is and fail only with
// errBadMessage; check judges what it accepted. Whatever it
// accepted must re-encode: encode gives the bytes and same compares them
// with b (the padding may differ), and those bytes parse the same.
func fuzzParse[M any](f *testing.F, what string, parse func([]byte) (M, error), mine, others [][]byte,
	check func(t *testing.T, m M), encode func(m M) []byte, same func(b, out []byte, m M) bool) {
	for _, s := range mine {
		if _, err := parse(s); err != nil {
			f.Fatalf("a seed %s does not parse: %v", what, err)
		}
		f.Add(s)
	}
	for _, s := range others {
		f.Add(s)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := slices.Clone(b)
		m, err := parse(b)
		if !bytes.Equal(b, in) {
			t.Fatalf("parsing a %s changed its input", what)
		}
		if err != nil {
			if !errors.Is(err, errBadMessage) {
				t.Fatalf("error not wrapping errBadMessage: %v", err)
			}
			return
		}
		check(t, m)
		out := encode(m)
		if len(out) != len(b) {
			t.Fatalf("re-encoded to %d bytes from %d", len(out), len(b))
		}
		if !same(b, out, m) {
			t.Fatalf("re-encoded differently:\n in %x\nout %x", b, out)
		}
		m2, err := parse(out)
		if err != nil {
			t.Fatalf("the re-encoded %s does not parse: %v", what, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded %s parses as %+v, not %+v", what, m2, m)
		}
	})
}

func FuzzParseTask(f *testing.F) {
	fuzzParse(f, "task", parseTask, fuzzTaskSeeds(f), fuzzResultSeeds(f),
		func(t *testing.T, m taskMsg) {
			// What the worker relies on.
			if m.count < 1 || m.count > maxItems || m.off < 0 || m.off > maxItems || m.fn == "" || len(m.fn) > maxName {
				t.Fatalf("accepted a task of %d items from %d, name of %d bytes", m.count, m.off, len(m.fn))
			}
		},
		func(m taskMsg) []byte { return append(appendTask(nil, m.id, m.off, m.count, m.fn), m.payload...) },
		// The same bytes, but for the padding of the name.
		func(b, out []byte, m taskMsg) bool {
			name := msgHeader + len(m.fn)
			pad := msgHeader + (len(m.fn)+7)&^7
			return bytes.Equal(out[:name], b[:name]) && bytes.Equal(out[pad:], b[pad:])
		})
}

func FuzzParseResult(f *testing.F) {
	fuzzParse(f, "result", parseResult, fuzzResultSeeds(f), fuzzTaskSeeds(f),
		func(t *testing.T, r resultMsg) {
			// What the pool relies on (Pool.apply, part.deliver).
			switch r.kind {
			case msgResult:
				if r.count < 1 || r.count > maxItems || r.off < 0 || r.off > maxItems || len(r.errs) > r.count {
					t.Fatalf("accepted a result of %d items from %d with %d errors", r.count, r.off, len(r.errs))
				}
			case msgReady:
				if r.count != 0 || len(r.errs) != 0 {
					t.Fatalf("accepted a ready with %d items, %d errors", r.count, len(r.errs))
				}
			case msgInitFailed:
				if r.count != 1 || len(r.errs) != 1 {
					t.Fatalf("accepted an init failure with %d items, %d errors", r.count, len(r.errs))
				}
			default:
				t.Fatalf("accepted kind %d", r.kind)
			}
			for i, e := range r.errs {
				if e.index < 0 || e.index >= r.count || (i > 0 && e.index <= r.errs[i-1].index) {
					t.Fatalf("accepted errors for items %+v of %d", r.errs, r.count)
				}
			}
			if (r.kind != msgResult || len(r.errs) == r.count) && len(r.payload) != 0 {
				t.Fatalf("accepted %d bytes of results where none belong", len(r.payload))
			}
		},
		func(r resultMsg) []byte {
			return append(appendResult(nil, r.kind, r.id, r.off, r.count, r.errs), r.payload...)
		},
		// The same bytes, but for the padding after the errors.
		func(b, out []byte, r resultMsg) bool {
			head := len(out) - len(r.payload)
			end := msgHeader
			for _, e := range r.errs {
				end += 16 + len(e.msg) + len(e.stack)
			}
			return bytes.Equal(out[:end], b[:end]) && bytes.Equal(out[head:], b[head:])
		})
}

// The types FuzzCodec decodes, by its first argument (modulo their number).
const (
	fuzzInt64 = iota
	fuzzPlainStruct
	fuzzString
	fuzzGobStruct
	fuzzTypes
)

// fuzzMaxValues bounds the count FuzzCodec decodes, so that a large count
// costs no large allocation.
const fuzzMaxValues = 1 << 12

func FuzzCodec(f *testing.F) {
	seed := func(typ int, b []byte, err error, count int) {
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(typ), uint16(count), b)
	}
	for _, vs := range [][]int64{nil, {0}, {1, -1, 1 << 62}} {
		b, err := codecFor[int64]().append(nil, vs)
		seed(fuzzInt64, b, err, len(vs))
	}
	for _, vs := range [][]fuzzPlain{{{}}, {{A: -1, B: 1 << 40, C: [3]uint16{1, 2, 3}, D: -8}, {A: 5}}} {
		b, err := codecFor[fuzzPlain]().append(nil, vs)
		seed(fuzzPlainStruct, b, err, len(vs))
	}
	for _, vs := range [][]string{nil, {""}, {"a", "", "héllo\x00\xff"}} {
		b, err := codecFor[string]().append(nil, vs)
		seed(fuzzString, b, err, len(vs))
	}
	for _, vs := range [][]fuzzGob{{{}}, {{Name: "x", Tags: []string{"a", ""}, N: -3}, {Tags: []string{"b"}}, {N: 1 << 50}}} {
		b, err := codecFor[fuzzGob]().append(nil, vs)
		seed(fuzzGobStruct, b, err, len(vs))
	}
	f.Fuzz(func(t *testing.T, typ uint8, count uint16, b []byte) {
		n := int(count) % (fuzzMaxValues + 1)
		switch int(typ) % fuzzTypes {
		case fuzzInt64:
			checkCodec[int64](t, n, b, true)
		case fuzzPlainStruct:
			checkCodec[fuzzPlain](t, n, b, true)
		case fuzzString:
			checkCodec[string](t, n, b, false)
		case fuzzGobStruct:
			checkCodec[fuzzGob](t, n, b, false)
		}
	})
}

// checkCodec decodes n values of T from b: a plain T decodes exactly when
// b holds n of them, and re-encodes to b; whatever a gob T decodes
// re-encodes to bytes that decode to equal values.
func checkCodec[T any](t *testing.T, n int, b []byte, plain bool) {
	c := codecFor[T]()
	if (c.size > 0) != plain {
		t.Fatalf("%T: codec size %d, plain %v", *new(T), c.size, plain)
	}
	in := slices.Clone(b)
	out := make([]T, n)
	err := c.decode(b, out)
	if !bytes.Equal(b, in) {
		t.Fatal("decode changed its input")
	}
	if plain && (err == nil) != (len(b) == n*c.size) {
		t.Fatalf("%d bytes, %d values of %d: decode = %v", len(b), n, c.size, err)
	}
	if err != nil {
		return
	}
	enc, err := c.append(nil, out)
	if err != nil {
		t.Fatalf("decoded %d values that do not encode: %v", n, err)
	}
	if plain && !bytes.Equal(enc, b) {
		t.Fatalf("re-encoded differently:\n in %x\nout %x", b, enc)
	}
	again := make([]T, n)
	if err := c.decode(enc, again); err != nil {
		t.Fatalf("the re-encoded values do not decode: %v", err)
	}
	for i := range out {
		if !reflect.DeepEqual(out[i], again[i]) {
			t.Fatalf("value %d decodes as %#v, re-encoded as %#v", i, out[i], again[i])
		}
	}
}
