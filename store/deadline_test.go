package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authgate/authgate/internal/testsupport"
)

// frozenStore is a migrated store on PostgreSQL behind a proxy that has
// stopped forwarding (a partition, a paused or suspended server: nothing is
// refused, nothing answers), with connections in its pool from before.
func frozenStore(t *testing.T) (*Store, *testsupport.FreezableProxy) {
	t.Helper()
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	st := migratedStore(t, dsn)
	// Some calls then wait in a read on a pooled connection, others in the
	// handshake of a new one, others for a free connection.
	for range 3 {
		if err := st.Ping(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	return st, proxy
}

// TestStoreCalls_EndAtTheirDeadlineWhenTheDatabaseStopsAnswering: every
// store call, given a context without a deadline, answers ErrUnavailable
// at its own deadline instead of waiting for as long as the database does
// (lib/pq alone waits in a read whatever the context), and once the
// database answers again so does the store.
func TestStoreCalls_EndAtTheirDeadlineWhenTheDatabaseStopsAnswering(t *testing.T) {
	st, proxy := frozenStore(t)
	calls := storeCalls(st)
	delete(calls, "Ready") // the store is ready: it asks the database nothing
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(calls))
	for name, call := range calls {
		go func() { results <- result{name, call(context.Background())} }()
	}
	waiting := make(map[string]bool, len(calls))
	for name := range calls {
		waiting[name] = true
	}
	limit := time.After(callTimeout + 5*time.Second)
	for range len(calls) {
		select {
		case r := <-results:
			delete(waiting, r.name)
			checkUnavailable(t, r.name, r.err)
		case <-limit:
			var names []string
			for name := range waiting {
				names = append(names, name)
			}
			slices.Sort(names)
			t.Fatalf("still waiting %v into a freeze, with a %v deadline: %v", callTimeout+5*time.Second, callTimeout, names)
		}
	}

	proxy.Thaw()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := st.Ping(context.Background())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database answers again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWithSharedDeadline_CallsOfOneRequestEndTogether: the store calls made
// under one WithSharedDeadline context end within one deadline of the
// first, so that a request making several of them (a database rate limit,
// then the endpoint's own) is not held a deadline for each.
func TestWithSharedDeadline_CallsOfOneRequestEndTogether(t *testing.T) {
	st, _ := frozenStore(t)
	ctx := WithSharedDeadline(context.Background())
	errs := make(chan error, 3)
	go func() {
		_, _, err := st.HitRateLimit(ctx, "key", time.Second, 3, time.Now())
		errs <- err
		_, _, err = st.HitRateLimit(ctx, "other", time.Second, 3, time.Now())
		errs <- err
		_, _, err = st.CredentialByEmail(ctx, "ada@example.com")
		errs <- err
	}()
	// A deadline each would be three of them.
	limit := time.After(callTimeout + 3*time.Second)
	for i := range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("call %d: err %v, want ErrUnavailable", i+1, err)
			}
		case <-limit:
			t.Fatalf("call %d of three under one shared deadline of %v still waits %v into a freeze", i+1, callTimeout, callTimeout+3*time.Second)
		}
	}
}
