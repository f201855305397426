package store

import "context"

// await runs fn on a goroutine of its own and waits for it only as long as
// ctx allows. lib/pq waits in a read for a server that stops answering
// without refusing (a network partition, a paused server) whatever the
// context, so a caller with a deadline must be free to leave; fn keeps the
// connection until the server answers or the connection breaks. fn should
// use ctx as well, so that lib/pq asks the server to cancel the statement
// when the caller leaves, and a transaction in it is rolled back.
func await[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1) // buffered: an abandoned fn must not block
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
