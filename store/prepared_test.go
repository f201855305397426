package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/authgate/authgate/internal/testsupport"
)

// checkLookups looks every session up from several goroutines at once and
// fails the test on any error or wrong answer.
func checkLookups(t *testing.T, st *Store, sessions []Session) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(sessions))
	for range 4 {
		for _, want := range sessions {
			wg.Go(func() {
				got, _, err := st.SessionByToken(testCtx(t), want.Token)
				switch {
				case err != nil:
					errs <- err
				case got.ID != want.ID:
					errs <- fmt.Errorf("token of %s answered %s", want.ID, got.ID)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, err := st.SessionByToken(testCtx(t), "no-such-token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
}

// someSessions creates n sessions of one user.
func someSessions(t *testing.T, st *Store, n int) []Session {
	t.Helper()
	u := mkUser(t, st, "ada@example.com")
	var ss []Session
	for range n {
		ss = append(ss, mkSession(t, st, u.ID, time.Now()))
	}
	return ss
}

// On a direct connection the probe finds that sessions are kept, and the
// lookups then run on the named statement.
func TestUsePreparedLookups_DirectConnectionUsesANamedStatement(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDirectDSN(t))
	ss := someSessions(t, st, 20)
	on, err := st.UsePreparedLookups(testCtx(t))
	if err != nil || !on {
		t.Fatalf("UsePreparedLookups on a direct connection = %v, %v; want true", on, err)
	}
	checkLookups(t, st, ss)
	if st.prepared.used.Load() == 0 {
		t.Fatal("no lookup ran on the named statement")
	}
	if !st.prepared.on.Load() {
		t.Fatal("named statements were turned off on a direct connection")
	}
	// Asked again, it answers without a second probe.
	if on, err := st.UsePreparedLookups(testCtx(t)); err != nil || !on {
		t.Fatalf("second call = %v, %v", on, err)
	}
}

// Through a pooler in transaction mode the probe's notice never arrives:
// lookups stay on unnamed statements, and work.
func TestUsePreparedLookups_TransactionPoolerKeepsUnnamedStatements(t *testing.T) {
	pooled, _ := testsupport.PgBouncerDSN(t)
	st := migratedStore(t, pooled)
	ss := someSessions(t, st, 20)
	on, err := st.UsePreparedLookups(testCtx(t))
	if err != nil || on {
		t.Fatalf("UsePreparedLookups through PgBouncer (transaction mode) = %v, %v; want false", on, err)
	}
	checkLookups(t, st, ss)
	if n := st.prepared.used.Load(); n != 0 {
		t.Fatalf("%d lookups ran on a named statement through a transaction pooler", n)
	}
}

// A pooler put in front after the probe (or one the probe could not see):
// the first lookup whose named statement is missing on the server
// connection it lands on is answered unnamed, and named statements are off
// for good, with one warning.
func TestPreparedLookups_AStatementTheServerLacksTurnsThemOffWithoutFailingALookup(t *testing.T) {
	pooled, _ := testsupport.PgBouncerDSN(t)
	core, logs := observer.New(zap.WarnLevel)
	st := openStore(t, pooled, Options{Logger: zap.New(core)})
	if err := st.Migrate(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ss := someSessions(t, st, 5)
	st.db.SetMaxOpenConns(1)
	st.prepared.on.Store(true) // as if the probe had been fooled

	// Prepared on the server connection this lookup lands on.
	if got, _, err := st.SessionByToken(testCtx(t), ss[0].Token); err != nil || got.ID != ss[0].ID {
		t.Fatalf("first lookup: %v, %v", got.ID, err)
	}
	// Other clients now hold every server connection the pool has (it
	// never had more than the store's one connection, the migration's and
	// this test's), so the next lookup gets a new one, without the
	// statement.
	hold := holdServerConnections(t, pooled, 12)
	got, _, err := st.SessionByToken(testCtx(t), ss[1].Token)
	hold()
	if err != nil || got.ID != ss[1].ID {
		t.Fatalf("lookup on a server connection without the statement: %v, %v", got.ID, err)
	}
	if st.prepared.on.Load() {
		t.Fatal("named statements still on after the server lacked one")
	}
	st.db.SetMaxOpenConns(10)
	checkLookups(t, st, ss)
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d warnings, want 1: %+v", n, logs.All())
	}
}

// holdServerConnections opens n client connections through the pooler,
// each in a transaction, so that each holds a server connection until
// release.
func holdServerConnections(t *testing.T, dsn string, n int) (release func()) {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var txs []*sql.Tx
	for range n {
		tx, err := db.BeginTx(testCtx(t), nil)
		if err == nil {
			_, err = tx.ExecContext(testCtx(t), `SELECT 1`)
		}
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	return func() {
		for _, tx := range txs {
			_ = tx.Rollback()
		}
		_ = db.Close()
	}
}

// A column whose type changes under the statement ("cached plan must not
// change result type"): the lookup is answered unnamed and the statement
// is prepared again for the next ones.
func TestPreparedLookups_AColumnTypeChangePreparesTheStatementAgain(t *testing.T) {
	st := migratedStore(t, testsupport.PostgresDirectDSN(t))
	ss := someSessions(t, st, 5)
	st.db.SetMaxOpenConns(1) // one connection: the one holding the statement
	if on, err := st.UsePreparedLookups(testCtx(t)); err != nil || !on {
		t.Fatalf("UsePreparedLookups = %v, %v", on, err)
	}
	checkLookups(t, st, ss)
	execAll(t, st, `ALTER TABLE "session" ALTER COLUMN "ipAddress" TYPE varchar(200)`)
	used := st.prepared.used.Load()
	checkLookups(t, st, ss)
	if !st.prepared.on.Load() {
		t.Fatal("named statements turned off by a column type change")
	}
	if st.prepared.used.Load() == used {
		t.Fatal("the statement was not prepared again after the type change")
	}
}

// With the database frozen, a lookup on the named statement ends at its
// deadline as an unnamed one does, and lookups work again once the
// database answers.
func TestPreparedLookups_EndAtTheirDeadlineWhenTheDatabaseStopsAnswering(t *testing.T) {
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	st := migratedStore(t, dsn)
	ss := someSessions(t, st, 3)
	on, err := st.UsePreparedLookups(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	// Through PgBouncer (the suite's second pass) the probe rightly keeps
	// them off, and this is the unnamed lookup's test again.
	if !on && os.Getenv(testsupport.EnvViaPgBouncer) != "1" {
		t.Fatal("the probe found no session kept on a direct connection behind a TCP proxy")
	}
	checkLookups(t, st, ss)

	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	start := time.Now()
	_, _, err = st.SessionByToken(context.Background(), ss[0].Token)
	checkUnavailable(t, "SessionByToken", err)
	if took := time.Since(start); took > callTimeout+3*time.Second {
		t.Fatalf("lookup into a frozen database took %v, deadline %v", took, callTimeout)
	}
	// And the query itself gave up at that deadline, still frozen: its
	// slot is free for the lookups that follow.
	for {
		st.batcher.mu.Lock()
		running := st.batcher.running
		st.batcher.mu.Unlock()
		if running == 0 {
			break
		}
		if took := time.Since(start); took > callTimeout+2*time.Second {
			t.Fatalf("the lookup's query still holds its slot %v into the freeze, deadline %v", took, callTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	proxy.Thaw()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, err := st.SessionByToken(context.Background(), ss[1].Token)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database answers again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkLookups(t, st, ss)
}

// A connection test that cannot run (the database does not answer) decides
// nothing: lookups stay unnamed, and the next call tests again.
func TestUsePreparedLookups_ATestThatCannotRunIsTriedAgain(t *testing.T) {
	dsn, proxy := testsupport.PostgresDSNBehindProxy(t)
	st := migratedStore(t, dsn)
	ss := someSessions(t, st, 3)
	proxy.Freeze()
	t.Cleanup(proxy.Thaw)
	on, err := st.UsePreparedLookups(testCtx(t))
	checkUnavailable(t, "UsePreparedLookups", err)
	if on || st.prepared.on.Load() {
		t.Fatal("named statements on after a test that could not run")
	}
	proxy.Thaw()
	on, err = st.UsePreparedLookups(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := os.Getenv(testsupport.EnvViaPgBouncer) != "1"; on != want {
		t.Fatalf("second test = %v, want %v", on, want)
	}
	checkLookups(t, st, ss)
}
