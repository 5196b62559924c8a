//go:build linux && (amd64 || arm64)

package shm

import (
	"errors"
	"testing"
)

func TestMetricsRegistry(t *testing.T) {
	s := mustCreate(t, 1<<20, nil)
	o, err := s.Alloc(Spec{Kind: KindBytes, Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Metrics(o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("metrics of an unregistered kind: %v, want ErrInvalid", err)
	}
	RegisterMetrics(KindBytes, func(o *Object) ([]Metric, error) {
		return []Metric{{Name: "bytes", Help: "its size", Value: uint64(len(o.Bytes())), Gauge: true}}, nil
	})
	t.Cleanup(func() { metricsFuncs.Delete(KindBytes) })
	m, err := Metrics(o)
	if err != nil || len(m) != 1 || m[0].Value != uint64(len(o.Bytes())) {
		t.Fatalf("Metrics = %v, %v", m, err)
	}
}
