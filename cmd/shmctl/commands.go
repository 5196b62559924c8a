package main

import (
	"errors"
	"fmt"
	"path"
	"strconv"

	"github.com/shmkit/shmkit/shm"
)

// ls lists every shmkit segment.
func (c *cli) ls(args []string) int {
	fs := c.flags()
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.usageError("ls takes no arguments, got %q", pos[0])
	}
	infos, err := shm.List()
	if err != nil {
		return c.fail(err)
	}
	if *jsonOut {
		out := struct {
			Segments []segmentJSON `json:"segments"`
		}{Segments: []segmentJSON{}}
		for _, in := range infos {
			out.Segments = append(out.Segments, toSegmentJSON(in))
		}
		return c.writeJSON(out)
	}
	if len(infos) == 0 {
		fmt.Fprintln(c.stderr, "no shmkit segments")
		return exitOK
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "NAME\tSIZE\tOBJECTS\tHEAP USED\tCREATOR\tALIVE\tREADY\tCREATED")
	for _, in := range infos {
		if in.Err != nil {
			// Dashes keep the columns aligned; the error, in the last
			// cell, does not widen them.
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\terror: %v\n", in.Name, in.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%s\t%s\t%s\n", in.Name, human(in.Size), in.Objects, in.MaxObjects,
			human(in.HeapUsed), in.CreatorPid, yesNo(in.CreatorAlive), yesNo(in.Ready), localTime(in.Created))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	return exitOK
}

// info shows one segment's header, directory and users.
func (c *cli) info(args []string) int {
	fs := c.flags()
	jsonOut := fs.Bool("json", false, "print JSON")
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	switch len(pos) {
	case 0:
		return c.usageError("info needs a segment NAME")
	case 1:
	default:
		return c.usageError("info takes one NAME, got %d", len(pos))
	}
	name := pos[0]
	in, err := shm.Stat(name)
	if err != nil {
		return c.fail(err)
	}
	objs, err := shm.StatObjects(name)
	if err != nil {
		return c.fail(err)
	}
	users, uerr := shm.Users(name)
	if users == nil {
		users = []int{}
	}
	code = exitOK
	if uerr != nil {
		code = c.fail(fmt.Errorf("listing the processes using %q: %w", name, uerr))
	}
	contents := describeCollections(name, objs)
	if *jsonOut {
		out := struct {
			Segment segmentJSON  `json:"segment"`
			Objects []objectJSON `json:"objects"`
			Users   []int        `json:"users"`
		}{Segment: toSegmentJSON(in), Objects: []objectJSON{}, Users: users}
		for _, o := range objs {
			oj := toObjectJSON(o)
			oj.Contents = contents[o.Name]
			out.Objects = append(out.Objects, oj)
		}
		return max(code, c.writeJSON(out))
	}
	tw := newTable(c.stdout)
	fmt.Fprintf(tw, "name:\t%s\n", in.Name)
	fmt.Fprintf(tw, "id:\t%s\n", hex64(in.ID))
	fmt.Fprintf(tw, "version:\t%d\n", in.Version)
	fmt.Fprintf(tw, "size:\t%s (%d bytes)\n", human(in.Size), in.Size)
	fmt.Fprintf(tw, "creator:\tpid %d (%s)\n", in.CreatorPid, aliveText(in.CreatorAlive))
	fmt.Fprintf(tw, "ready:\t%s\n", yesNo(in.Ready))
	fmt.Fprintf(tw, "created:\t%s\n", localTime(in.Created))
	fmt.Fprintf(tw, "directory:\t%d of %d entries used\n", in.Objects, in.MaxObjects)
	fmt.Fprintf(tw, "heap:\t%s of %s used (%d of %d bytes)\n", human(in.HeapUsed), human(in.HeapSize), in.HeapUsed, in.HeapSize)
	switch {
	case uerr != nil:
		fmt.Fprintf(tw, "users:\tunknown\n")
	case len(users) == 0:
		fmt.Fprintf(tw, "users:\tnone seen\n")
	default:
		fmt.Fprintf(tw, "users:\tpid %s\n", pidList(users))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	fmt.Fprintln(c.stdout)
	if len(objs) == 0 {
		fmt.Fprintln(c.stdout, "no objects")
		return code
	}
	tw = newTable(c.stdout)
	fmt.Fprintln(tw, "OBJECT\tKIND\tLENGTH\tOFFSET\tFINGERPRINT\tREADY\tCREATOR\tALIVE")
	for _, o := range objs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\n", o.Name, o.Kind, o.Length, o.Offset,
			hex64(o.Fingerprint), yesNo(o.Ready), o.CreatorPid, yesNo(o.CreatorAlive))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	if len(contents) > 0 {
		fmt.Fprintln(c.stdout)
	}
	for _, o := range objs {
		if d, ok := contents[o.Name]; ok {
			fmt.Fprintf(c.stdout, "%s: %s\n", o.Name, d)
		}
	}
	return code
}

// rm unlinks each named segment, going on past failures; the exit code is
// the highest of the failures'.
func (c *cli) rm(args []string) int {
	fs := c.flags()
	pos, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return c.usageError("rm needs at least one segment NAME")
	}
	code = exitOK
	for _, name := range pos {
		if err := shm.Unlink(name); err != nil {
			code = max(code, c.fail(err))
			continue
		}
		fmt.Fprintf(c.stdout, "removed %s\n", name)
	}
	return code
}

// gc actions, as gc -json reports them.
const (
	actRemoved     = "removed"
	actWouldRemove = "would_remove"
	actKept        = "kept"
	actSkipped     = "skipped"
	actGone        = "gone"
	actFailed      = "failed"
)

// gcResult is what gc did with one segment.
type gcResult struct {
	Name       string `json:"name"`
	Action     string `json:"action"`
	Reason     string `json:"reason"`
	CreatorPid int    `json:"creator_pid,omitempty"`
	Users      []int  `json:"users,omitempty"`
	Error      string `json:"error,omitempty"`
}

// gc removes the segments whose creator is dead and that no process uses.
func (c *cli) gc(args []string) int {
	fs := c.flags()
	dry := fs.Bool("n", false, "only show what would be removed")
	jsonOut := fs.Bool("json", false, "print JSON")
	patterns, code, ok := c.parse(fs, args)
	if !ok {
		return code
	}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return c.usageError("bad pattern %q: %v", p, err)
		}
	}
	infos, err := shm.List()
	if err != nil {
		return c.fail(err)
	}
	results := []gcResult{}
	code = exitOK
	for _, in := range infos {
		if !matchAny(patterns, in.Name) {
			continue
		}
		r := collect(in, *dry)
		if r.Action == actFailed {
			code = max(code, exitFailed)
		}
		results = append(results, r)
	}
	if *jsonOut {
		out := struct {
			DryRun   bool       `json:"dry_run"`
			Segments []gcResult `json:"segments"`
		}{*dry, results}
		return max(code, c.writeJSON(out))
	}
	if len(results) == 0 {
		fmt.Fprintln(c.stderr, "no shmkit segments")
		return code
	}
	tw := newTable(c.stdout)
	fmt.Fprintln(tw, "NAME\tACTION\tREASON")
	for _, r := range results {
		reason := r.Reason
		if r.Error != "" {
			reason += ": " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Action, reason)
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	return code
}

func matchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// collect decides about one segment and, unless dry, removes it.
func collect(in shm.Info, dry bool) gcResult {
	r := gcResult{Name: in.Name, CreatorPid: in.CreatorPid}
	if in.Err != nil {
		r.Action, r.Reason, r.Error = actSkipped, "not a valid segment, never removed by gc", in.Err.Error()
		return r
	}
	pid := strconv.Itoa(in.CreatorPid)
	if in.CreatorAlive {
		r.Action, r.Reason = actKept, "creator pid "+pid+" is alive"
		return r
	}
	users, err := shm.Users(in.Name)
	if err != nil {
		r.Action, r.Reason, r.Error = actFailed, "cannot list the processes using it", err.Error()
		return r
	}
	if len(users) > 0 {
		r.Action, r.Reason, r.Users = actKept, "creator pid "+pid+" is dead but pid "+pidList(users)+" uses it", users
		return r
	}
	r.Reason = "creator pid " + pid + " is dead and no process uses it"
	if dry {
		r.Action = actWouldRemove
		return r
	}
	// Narrow the race with a process that replaced the segment since List
	// read it: remove the name only if it still holds the same segment.
	now, err := shm.Stat(in.Name)
	switch {
	case errors.Is(err, shm.ErrNotExist):
		r.Action, r.Reason = actGone, "removed by another process meanwhile"
		return r
	case err != nil:
		r.Action, r.Reason, r.Error = actFailed, "cannot read it again before removing it", err.Error()
		return r
	case now.ID != in.ID:
		r.Action, r.Reason = actKept, "replaced by another segment since it was checked"
		return r
	}
	if err := shm.Unlink(in.Name); err != nil {
		if errors.Is(err, shm.ErrNotExist) {
			r.Action, r.Reason = actGone, "removed by another process meanwhile"
			return r
		}
		r.Action, r.Error = actFailed, err.Error()
		return r
	}
	r.Action = actRemoved
	return r
}
