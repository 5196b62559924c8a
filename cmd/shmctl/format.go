package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shmkit/shm"
)

// segmentJSON is a segment as ls -json and info -json print it. The field
// names are part of shmctl's interface: see the package documentation.
type segmentJSON struct {
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	ID           string `json:"id"`
	Version      uint32 `json:"version"`
	CreatorPid   int    `json:"creator_pid"`
	CreatorAlive bool   `json:"creator_alive"`
	Ready        bool   `json:"ready"`
	Created      string `json:"created"`
	Objects      int    `json:"objects"`
	MaxObjects   int    `json:"max_objects"`
	HeapUsed     int64  `json:"heap_used"`
	HeapSize     int64  `json:"heap_size"`
	Error        string `json:"error,omitempty"`
}

// objectJSON is one directory entry as info -json prints it.
type objectJSON struct {
	Name         string `json:"name"`
	Kind         string `json:"kind"`
	KindCode     uint32 `json:"kind_code"`
	Length       uint64 `json:"length"`
	Offset       uint64 `json:"offset"`
	Fingerprint  string `json:"fingerprint"`
	Ready        bool   `json:"ready"`
	CreatorPid   int    `json:"creator_pid"`
	CreatorAlive bool   `json:"creator_alive"`
}

func toSegmentJSON(in shm.Info) segmentJSON {
	if in.Err != nil {
		return segmentJSON{Name: in.Name, Error: in.Err.Error()}
	}
	return segmentJSON{
		Name:         in.Name,
		Size:         in.Size,
		ID:           hex64(in.ID),
		Version:      in.Version,
		CreatorPid:   in.CreatorPid,
		CreatorAlive: in.CreatorAlive,
		Ready:        in.Ready,
		Created:      in.Created.UTC().Format(time.RFC3339Nano),
		Objects:      in.Objects,
		MaxObjects:   in.MaxObjects,
		HeapUsed:     in.HeapUsed,
		HeapSize:     in.HeapSize,
	}
}

func toObjectJSON(o shm.ObjectInfo) objectJSON {
	return objectJSON{
		Name:         o.Name,
		Kind:         o.Kind.String(),
		KindCode:     uint32(o.Kind),
		Length:       o.Length,
		Offset:       o.Offset,
		Fingerprint:  hex64(o.Fingerprint),
		Ready:        o.Ready,
		CreatorPid:   o.CreatorPid,
		CreatorAlive: o.CreatorAlive,
	}
}

// hex64 formats v as 16 hex digits.
func hex64(v uint64) string { return fmt.Sprintf("%016x", v) }

// human formats a byte count with a binary unit: 512B, 1.5KiB, 64.0MiB.
func human(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	const units = "KMGTPE"
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, units[i])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// aliveText is "alive" or "dead".
func aliveText(b bool) string {
	if b {
		return "alive"
	}
	return "dead"
}

// localTime formats t for people, to the second, in the local zone.
func localTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}
