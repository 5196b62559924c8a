// Command container is two programs in one, to run in two containers that
// share /dev/shm (see "Containers" in the README): a producer and a
// consumer that find each other's objects by name, with no pids, sockets or
// files passed between them.
//
// Usage:
//
//	container produce [-seg NAME] [-n N] [-size BYTES]
//	container consume [-seg NAME] [-n N] [-timeout D]
//
// produce opens the segment NAME (default "shmkit-orders"), or creates it
// with its objects if it does not exist: a Queue of orders ("orders"), a
// Mutex ("books") and the running total it guards ("total"). It then puts
// N orders (default 1000), each under the Mutex: the total grows by the
// order's amount, and the order carries the total so far.
//
// consume opens the same segment and objects, waiting for them (up to
// -timeout, default one minute) if the producer has not made them yet, so
// the two may start in either order. It takes N orders and checks each:
// its amount is the one its sequence number gives, and the total it
// carries is the sum of the amounts taken so far. Then it takes the Mutex,
// checks the shared total against its own, prints the count and the total,
// and removes the segment's name (Free): the producer's next run starts
// afresh.
//
// Two producers at once, or one run again before a consumer took the
// previous run's orders, still pass every check: the Mutex orders the
// updates of the total and the puts alike. A producer killed while it holds
// the Mutex leaves the total ahead of the queue: the next process to take
// it is told (semaphore.ErrOwnerDead), and this program reports that as an
// error rather than go on with a total it cannot trust.
//
// Exit status: 0 when every order checked out, 1 on any error.
package main
