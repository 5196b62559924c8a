// Package testproc runs parts of a test in child processes: the one helper
// every shmkit package uses for multi-process tests.
//
// A child is a copy of the test binary, started again with -test.run=^$ and
// an environment variable naming a function registered with Register. The
// package's TestMain hands control to Main, which runs that function in a
// child and the tests in the parent:
//
//	var childCreate = testproc.Register("create", func(c *testproc.Child) error {
//		seg, err := shm.Create(c.Arg(), 1<<20, nil)
//		if err != nil {
//			return err
//		}
//		c.Point("created") // the parent may kill us here
//		return seg.Close()
//	})
//
//	func TestMain(m *testing.M) { testproc.Main(m) }
//
//	func TestCreatorDies(t *testing.T) {
//		p := testproc.Start(t, childCreate, testproc.Arg("seg"))
//		p.WaitPoint("created") // the child is blocked inside Point("created")
//		p.Kill()
//		if !p.Wait().Killed() { ... }
//		// now check that the segment is usable without its creator
//	}
//
// A Func returning nil exits 0, an error exits 1 (printed on stderr) and a
// panic exits 2; the helper itself exits 3 when it cannot run the Func.
// Files are passed as descriptors 3, 4, ... in order (Files, Child.File).
// The child's stdout and stderr are captured together and appear in every
// failure message and in Result.Output.
//
// # Points
//
// Child.Point(name) tells the parent the child got there and blocks until it
// is let go. Proc.WaitPoint(name) returns once the child is blocked there,
// having let earlier, different points go; nothing after the Point has run,
// so a Kill lands exactly there. Proc.Continue lets it go; a later WaitPoint
// or Wait lets it go too, and after Wait no point blocks any more. Several
// children paused at the same point and then continued one after another
// race from there. The control channel is two pipes passed after the user's
// files: one reports "reached NAME" lines, the other carries one byte per
// point let go.
//
// # Timeouts
//
// Every child has a timeout (Timeout, default two minutes) counted from
// Start. Past it the child is killed and the waiting call fails the test with
// the child's output, so a hung child fails a test instead of hanging it.
// A child outlives a dead parent by at most its timeout plus 30 seconds, and
// a child paused at a point exits as soon as the parent is gone.
//
// # Leak check
//
// In the parent, Main records the entries of /dev/shm and the open file
// descriptors before the tests and compares after them. Every new
// descriptor (except the Go runtime's poller: eventpoll, eventfd) is named
// on stderr and fails the run. In /dev/shm it judges only the entries whose
// name proves they are this test binary's: "shmkit-test-PID-" with its own
// pid, as ShmName gives (names made from a ShmName count too), and
// "shmkit-example-...-PID", as the examples of package shm give. Each such
// new entry is named, with the test ShmName gave it to, fails the run and
// is removed. Any other entry is another program's, perhaps in use (another
// test binary's, a database's, a browser's), and is never touched nor
// reported, whatever else runs on the machine. A test that makes a segment
// must name it with ShmName (or a name made from one) for the check to
// see it.
//
// # Caveats
//
//   - Register must run in package initialisation (a package-level var), so
//     that the parent and the child know the same names. A TestMain that does
//     not call Main makes every child run the tests instead of its Func; Wait
//     reports that as a child that never reached Main.
//   - The child never parses the testing flags: -test.v, -test.timeout and
//     the like have no effect in it, and testing.T is not available there.
//   - The helper's environment variables (SHMKIT_TESTPROC_*) are removed from
//     the child's environment before its Func runs, so processes it starts,
//     including re-executions of the same binary, are ordinary processes.
//   - Start passes user files through os/exec, which may switch them to
//     blocking mode in the parent.
//   - Proc methods that can fail the test (WaitPoint, Wait, Succeed) must be
//     called from the test's goroutine; Kill and Continue may be called from
//     any goroutine.
//   - The leak check runs only on Linux. It does not see a segment a test
//     leaves under a name of its own choosing, not made from ShmName. A
//     descriptor a test opened and left open on purpose (a package-level
//     cache) is reported as a leak: open it before Main, or close it in a
//     t.Cleanup.
//   - A test binary built with -race sleeps a second when it exits 0; Start
//     sets GORACE=atexit_sleep_ms=0 for its children unless GORACE already
//     sets it.
package testproc
