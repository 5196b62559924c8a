package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shmkit/shm"
	"github.com/shmkit/shmkit/shmap"
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
	Contents     string `json:"contents,omitempty"` // of a map or list
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

// describeCollections says, for each map and list among objs, how many
// entries it holds and how large its table is, by name. A segment or
// object that cannot be read is left out: info reports the directory
// whatever the objects hold.
func describeCollections(name string, objs []shm.ObjectInfo) map[string]string {
	out := map[string]string{}
	// The segment and its objects were listed a moment ago: a short bound
	// on the opens, which would otherwise wait for a name removed since.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var seg *shm.Segment
	for _, o := range objs {
		if (o.Kind != shm.KindMap && o.Kind != shm.KindList) || !o.Ready {
			continue
		}
		if seg == nil {
			var err error
			if seg, err = shm.Open(ctx, name, nil); err != nil {
				return out
			}
			defer seg.Close()
		}
		obj, err := seg.Find(ctx, o.Name, shm.Spec{Kind: o.Kind, Fingerprint: o.Fingerprint})
		if err != nil {
			continue
		}
		in, err := shmap.Stat(obj)
		if err != nil {
			out[o.Name] = err.Error()
			continue
		}
		what := "entries"
		if in.Kind == shm.KindList {
			what = "elements"
		}
		d := fmt.Sprintf("%v of %d %s; table of %d slots of %d bytes (%s), replaced %d times",
			in.Kind, in.Len, what, in.Slots, in.SlotBytes, human(in.TableBytes()), in.Growths)
		if in.Parts > 1 {
			d = fmt.Sprintf("%v of %d %s in %d parts; tables of %d slots of %d bytes in all (%s), replaced %d times",
				in.Kind, in.Len, what, in.Parts, in.Slots, in.SlotBytes, human(in.TableBytes()), in.Growths)
		}
		if in.Encoded {
			d += fmt.Sprintf("; encoded: %s of %s data used, %s of it garbage",
				human(in.DataUsed), human(in.DataBytes), human(in.Garbage))
		}
		out[o.Name] = d
	}
	return out
}
