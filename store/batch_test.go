package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// holdLookupSlots takes every query slot of st's batcher, so that lookups
// queue until release hands the slots back through drainLookups, as
// finishing queries do.
func holdLookupSlots(t *testing.T, st *Store) (release func()) {
	t.Helper()
	b := &st.batcher
	b.mu.Lock()
	if b.running != 0 {
		b.mu.Unlock()
		t.Fatalf("batcher has %d queries running before the test", b.running)
	}
	b.running = maxLookupBatches
	b.mu.Unlock()
	q, err := st.queries(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		for range maxLookupBatches {
			st.drainLookups(q)
		}
	}
}

// lookupAsync starts SessionByToken and returns where its error will be.
func lookupAsync(ctx context.Context, st *Store, token string) <-chan error {
	ch := make(chan error, 1)
	go func() { _, _, err := st.SessionByToken(ctx, token); ch <- err }()
	return ch
}

// waitPending waits until n lookups are queued.
func waitPending(t *testing.T, st *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.batcher.mu.Lock()
		got := len(st.batcher.pending)
		st.batcher.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lookups queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits until no query holds a slot.
func waitIdle(t *testing.T, st *Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.batcher.mu.Lock()
		running, pending := st.batcher.running, len(st.batcher.pending)
		st.batcher.mu.Unlock()
		if running == 0 && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("batcher still busy: %d running, %d queued", running, pending)
		}
		time.Sleep(time.Millisecond)
	}
}

type lookupCase struct {
	token string
	want  *Session // nil: not found
	user  *User
}

// TestSessionByToken_QueuedLookupsShareQueriesAndEachGetsItsOwnRow queues
// more lookups than one query takes — sessions of two users, the same
// session several times, unknown tokens and tokens PostgreSQL cannot hold
// as text — and checks that each caller gets its own answer from a few
// queries, and that the slots are all given back. SQLite, which runs each
// lookup on its own, must give the same answers to the same concurrent
// callers.
func TestSessionByToken_QueuedLookupsShareQueriesAndEachGetsItsOwnRow(t *testing.T) {
	eachLayout(t, func(t *testing.T, st *Store) {
		batched := st.Driver() == "postgres"
		ctx := testCtx(t)
		users := []User{mkUser(t, st, "ada@example.com"), mkUser(t, st, "bob@example.com")}
		var cases []lookupCase
		for i := range 60 {
			u := users[i%2]
			ss := mkSession(t, st, u.ID, testNow)
			cases = append(cases, lookupCase{ss.Token, &ss, &u})
			if i%10 == 0 { // the same session from several requests at once
				cases = append(cases, lookupCase{ss.Token, &ss, &u}, lookupCase{ss.Token, &ss, &u})
			}
		}
		for i := range 20 {
			cases = append(cases, lookupCase{token: fmt.Sprintf("unknown-%d", i)})
		}
		cases = append(cases, lookupCase{token: "nul\x00token"}, lookupCase{token: "bad\xffutf8"})
		queriesBefore := st.batcher.queries

		release := func() {}
		if batched {
			release = holdLookupSlots(t, st)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(cases))
		for i, c := range cases {
			wg.Go(func() {
				ss, u, err := st.SessionByToken(ctx, c.token)
				switch {
				case c.want == nil && !errors.Is(err, ErrNotFound):
					errs[i] = fmt.Errorf("token %q: err %v, want ErrNotFound", c.token, err)
				case c.want != nil && err != nil:
					errs[i] = fmt.Errorf("token %q: %v", c.token, err)
				case c.want != nil && (ss.ID != c.want.ID || ss.Token != c.token || u.ID != c.user.ID || u.Email != c.user.Email):
					errs[i] = fmt.Errorf("token %q: got session %s of %s, want %s of %s", c.token, ss.ID, u.Email, c.want.ID, c.user.Email)
				}
			})
		}
		if batched {
			waitPending(t, st, len(cases))
		}
		release()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		if !batched {
			return
		}
		// One query per maxLookupBatch queued lookups.
		want := (len(cases) + maxLookupBatch - 1) / maxLookupBatch
		if got := st.batcher.queries - queriesBefore; got != want {
			t.Errorf("%d lookups ran %d queries, want %d", len(cases), got, want)
		}
		waitIdle(t, st)

		// And with free slots a lookup runs at once, on its own.
		ss, _, err := st.SessionByToken(ctx, cases[0].token)
		if err != nil || ss.ID != cases[0].want.ID {
			t.Errorf("unqueued lookup: %v, %v", ss.ID, err)
		}
	})
}

// TestSessionByToken_QueuedLookupSeesARevocationCommittedBeforeIt: a lookup
// is answered by a query that starts after it was queued.
func TestSessionByToken_QueuedLookupSeesARevocationCommittedBeforeIt(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	ctx := testCtx(t)
	u := mkUser(t, st, "ada@example.com")
	revoked, kept := mkSession(t, st, u.ID, testNow), mkSession(t, st, u.ID, testNow)

	release := holdLookupSlots(t, st)
	first := lookupAsync(ctx, st, kept.Token)
	waitPending(t, st, 1)
	if err := st.DeleteSessionByToken(ctx, revoked.Token); err != nil {
		t.Fatal(err)
	}
	second := lookupAsync(ctx, st, revoked.Token)
	waitPending(t, st, 2)
	release()
	if err := <-first; err != nil {
		t.Errorf("kept session: %v", err)
	}
	if err := <-second; !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked session: err %v, want ErrNotFound", err)
	}
	waitIdle(t, st)
}

// TestSessionByToken_ACallerThatGivesUpDoesNotFailTheOthers: a queued
// caller whose context ends returns at once with its context's error; the
// query for the rest runs on none of their contexts.
func TestSessionByToken_ACallerThatGivesUpDoesNotFailTheOthers(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	ctx := testCtx(t)
	u := mkUser(t, st, "ada@example.com")
	ss := mkSession(t, st, u.ID, testNow)

	release := holdLookupSlots(t, st)
	leaving, leave := context.WithCancel(ctx)
	gaveUp := lookupAsync(leaving, st, ss.Token)
	stayed := lookupAsync(ctx, st, ss.Token)
	waitPending(t, st, 2)
	leave()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: err %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled caller still waits for its queued lookup")
	}
	release()
	if err := <-stayed; err != nil {
		t.Errorf("the caller that stayed: %v", err)
	}
	waitIdle(t, st)
}

// TestSessionByToken_QueuedLookupsReportAnUnavailableDatabase: when the
// shared query fails, every caller in it gets the failure as
// ErrUnavailable, none hangs, and the slots come back.
func TestSessionByToken_QueuedLookupsReportAnUnavailableDatabase(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	ctx := testCtx(t)
	u := mkUser(t, st, "ada@example.com")
	ss := mkSession(t, st, u.ID, testNow)

	release := holdLookupSlots(t, st)
	errs := make(chan error, 3)
	for _, tok := range []string{ss.Token, ss.Token, "unknown"} {
		go func() { _, _, err := st.SessionByToken(ctx, tok); errs <- err }()
	}
	waitPending(t, st, 3)
	if err := st.db.Close(); err != nil {
		t.Fatal(err)
	}
	release()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrUnavailable) {
			t.Errorf("err %v, want ErrUnavailable", err)
		}
	}
	waitIdle(t, st)
}

// TestSessionByToken_ADatabaseThatStopsAnsweringCostsCallersOnlyTheirDeadline:
// PostgreSQL behind a proxy that stops forwarding (a partition, a paused
// server: nothing is refused, nothing answers). lib/pq would wait in a read
// for as long as that lasts; callers, the one whose query hangs and those
// queued behind it alike, get ErrUnavailable at their deadline, and once the
// database answers again so do lookups.
func TestSessionByToken_ADatabaseThatStopsAnsweringCostsCallersOnlyTheirDeadline(t *testing.T) {
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	st := migratedStore(t, dsn)
	ctx := testCtx(t)
	u := mkUser(t, st, "ada@example.com")
	ss := mkSession(t, st, u.ID, testNow)

	proxy.Freeze()
	const callers = 2 * maxLookupBatches // some run a query, the rest queue
	errs := make(chan error, callers)
	start := time.Now()
	for range callers {
		go func() {
			dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			_, _, err := st.SessionByToken(dctx, ss.Token)
			errs <- err
		}()
	}
	for range callers {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("err %v, want ErrUnavailable", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a caller is still waiting on a database that does not answer, 10 s after its 300 ms deadline")
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("callers with a 300 ms deadline took %v", d)
	}

	proxy.Thaw()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _, err := st.SessionByToken(ctx, ss.Token)
		if err == nil && got.ID == ss.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database answers again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitIdle(t, st)
}

// TestSessionByToken_ACallerThatGivesUpLeavesTheQueue: a queued lookup
// whose caller has gone is dropped at once, with what it holds (the
// caller's context, and through it the request), instead of waiting in the
// queue for a query that may not come while the database hangs.
func TestSessionByToken_ACallerThatGivesUpLeavesTheQueue(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	release := holdLookupSlots(t, st)
	defer release()
	leaving, leave := context.WithCancel(testCtx(t))
	gaveUp := lookupAsync(leaving, st, "some-token")
	waitPending(t, st, 1)
	leave()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
	st.batcher.mu.Lock()
	queued := len(st.batcher.pending)
	st.batcher.mu.Unlock()
	if queued != 0 {
		t.Errorf("%d lookups still queued after their caller left", queued)
	}
}

// TestSessionByToken_AFullQueueAnswersErrUnavailableAtOnce: while every
// query slot is taken (a database that hangs), at most maxPendingLookups
// wait; the next caller gets ErrUnavailable without waiting, so that the
// work held does not grow with the load. The queued ones are answered once
// the slots come back.
func TestSessionByToken_AFullQueueAnswersErrUnavailableAtOnce(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDSN(t))
	ctx := testCtx(t)
	release := holdLookupSlots(t, st)
	queued := make([]<-chan error, maxPendingLookups)
	for i := range queued {
		queued[i] = lookupAsync(ctx, st, fmt.Sprintf("token-%d", i))
	}
	waitPending(t, st, maxPendingLookups)
	select {
	case err := <-lookupAsync(ctx, st, "one-too-many"):
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("beyond the cap: err %v, want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a lookup beyond the cap waits instead of failing at once")
	}
	release()
	for _, ch := range queued {
		if err := <-ch; !errors.Is(err, ErrNotFound) {
			t.Errorf("queued lookup: err %v, want ErrNotFound", err)
		}
	}
	waitIdle(t, st)
}
