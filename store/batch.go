package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lib/pq"
)

// Session lookups on PostgreSQL are coalesced: while maxLookupBatches
// lookups are running, the ones that arrive queue, and the next query
// answers up to maxLookupBatch of them at once with token = ANY($1).
//
// Why: on the unnamed statement every lookup is parsed and planned again
// (behind a pooler in transaction mode, which cannot keep named statements:
// see preparedLookups), and planning the session⋈user join costs
// PostgreSQL several times what executing it does. One query for many
// tokens pays that once, and one round trip instead of many; on a named
// statement, one round trip instead of many still counts. With few lookups
// in flight nothing queues and a lookup runs at once, on its caller's
// context, so an idle gate pays no latency for this.
//
// A caller waits for its answer only as long as its context allows: a
// database that stops answering (a network partition, a paused server)
// holds at most maxLookupBatches connections, and every caller gets
// ErrUnavailable at its deadline. What waits meanwhile is bounded too: a
// caller that leaves takes its lookup out of the queue (it holds the
// caller's context, and through it the request), and beyond
// maxPendingLookups queued a lookup fails at once with ErrUnavailable, so
// that memory stays flat however long the database hangs.
//
// Every queued lookup is answered by a query that starts after it was
// queued, never by one already running, so a lookup sees every revocation
// committed before it began, exactly as a query of its own would.
//
// Two queries at a time, not more: under load every query planned is CPU
// the database spends, and fewer queries in flight make the batches bigger.
// Measured in-process with 32 concurrent uncached requests on 2 CPUs
// (BenchmarkGate_UncachedPostgresParallel, 2026-12-02): 52–54 µs per
// request with four, 35–38 µs with two, 34 µs with one; two keeps a second
// query going while one waits on a slow network round trip.
const (
	maxLookupBatches = 2
	maxLookupBatch   = 64
	// maxPendingLookups is sixteen full batches: far more than a healthy
	// database ever leaves waiting, few enough to hold little memory.
	maxPendingLookups = 16 * maxLookupBatch
)

// lookup is one queued SessionByToken call.
type lookup struct {
	ctx   context.Context
	token string
	done  chan struct{} // closed when sess, user and err are set
	sess  Session
	user  User
	err   error
}

// lookupBatcher coalesces concurrent session lookups; its zero value is
// ready.
type lookupBatcher struct {
	mu      sync.Mutex
	running int       // queries in flight
	pending []*lookup // queued, oldest first

	// queries counts the queries run, for tests.
	queries int
}

// sessionByTokenBatched is SessionByToken on PostgreSQL.
func (s *Store) sessionByTokenBatched(ctx context.Context, q *queries, token string) (Session, User, error) {
	b := &s.batcher
	l := &lookup{ctx: ctx, token: token, done: make(chan struct{})}
	b.mu.Lock()
	if b.running < maxLookupBatches {
		// Run it now, on the caller's context, but on a goroutine of its
		// own: lib/pq blocks in a read until the server answers, whatever
		// the context, so a caller whose deadline passes must be free to
		// leave a query to a database that has stopped answering.
		b.running++
		b.queries++
		b.mu.Unlock()
		go func() {
			s.runLookups(ctx, q, []*lookup{l})
			close(l.done)
			s.drainLookups(q)
		}()
	} else if len(b.pending) < maxPendingLookups {
		b.pending = append(b.pending, l)
		b.mu.Unlock()
	} else {
		b.mu.Unlock()
		return Session{}, User{}, wrap("load session by token", errQueueFull)
	}
	select {
	case <-l.done:
		return l.sess, l.user, l.err
	case <-ctx.Done():
		b.leave(l)
		return Session{}, User{}, wrap("load session by token", ctx.Err())
	}
}

// errQueueFull: the lookups queued already wait for a database that does
// not keep up.
var errQueueFull = fmt.Errorf("%w: too many session lookups waiting", ErrUnavailable)

// leave takes the lookup of a caller that has gone out of the queue, if it
// is still there.
func (b *lookupBatcher) leave(l *lookup) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.pending, l); i >= 0 {
		b.pending = slices.Delete(b.pending, i, i+1)
	}
}

// drainLookups is called by a query that has finished: it hands its slot
// to the queued lookups, on a goroutine of their own, or gives it back.
func (s *Store) drainLookups(q *queries) {
	b := &s.batcher
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.running--
		return
	}
	go func() {
		for {
			batch := b.take()
			if batch == nil {
				return
			}
			// On none of the callers' contexts: one caller leaving must
			// not fail the others, and each stops waiting at its own
			// deadline.
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			s.runLookups(ctx, q, batch)
			cancel()
			for _, l := range batch {
				close(l.done)
			}
		}
	}()
}

// take removes up to maxLookupBatch queued lookups whose callers still
// wait, or gives the slot back and returns nil when none is left.
func (b *lookupBatcher) take() []*lookup {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch []*lookup
	n := 0
	for n < len(b.pending) && len(batch) < maxLookupBatch {
		l := b.pending[n]
		n++
		if l.ctx.Err() != nil {
			close(l.done) // its caller has gone; nobody reads the answer
			continue
		}
		batch = append(batch, l)
	}
	// Shift rather than reslice, so that the array does not grow without
	// bound under steady load.
	rest := copy(b.pending, b.pending[n:])
	clear(b.pending[rest:])
	b.pending = b.pending[:rest]
	if len(batch) == 0 {
		b.running--
		return nil
	}
	b.queries++
	return batch
}

// runLookups answers every lookup of batch with one query.
func (s *Store) runLookups(ctx context.Context, q *queries, batch []*lookup) {
	const op = "load session by token"
	// A token PostgreSQL cannot hold as text would fail the whole query,
	// and with it the other callers': it cannot match a row anyway.
	tokens := make([]string, 0, len(batch))
	for _, l := range batch {
		if !storable(l.token) {
			l.err = wrap(op, ErrNotFound)
			continue
		}
		if !slices.Contains(tokens, l.token) { // the same session from several requests
			tokens = append(tokens, l.token)
		}
	}
	if len(tokens) == 0 {
		return
	}
	found, err := s.sessionsByTokens(ctx, q, tokens)
	for _, l := range batch {
		switch {
		case l.err != nil:
		case err != nil:
			l.err = wrap(op, err)
		default:
			r, ok := found[l.token]
			if !ok {
				l.err = wrap(op, ErrNotFound)
				continue
			}
			l.sess, l.user = r.session(), r.User.user()
		}
	}
}

// sessionsByTokens runs one query for tokens and returns the rows found,
// keyed by token: on the named statement when the connection allows it
// (see preparedLookups), unnamed otherwise.
func (s *Store) sessionsByTokens(ctx context.Context, q *queries, tokens []string) (map[string]*sessionUserRow, error) {
	if s.prepared.on.Load() {
		if found, ok, err := s.sessionsByTokensPrepared(ctx, q, tokens); ok {
			return found, err
		}
	}
	rows, err := s.db.QueryxContext(ctx, q.sessionsByTokens, pq.StringArray(tokens))
	if err != nil {
		return nil, err
	}
	return scanSessionRows(rows, len(tokens))
}

// storable reports whether PostgreSQL can compare s as text: valid UTF-8
// without NUL.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
