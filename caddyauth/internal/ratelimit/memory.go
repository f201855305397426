package ratelimit

import (
	"container/heap"
	"context"
	"hash/maphash"
	"strconv"
	"sync"
	"time"
)

// overflowBuckets is how many counters per limit share the newcomers while
// the memory store is full.
const overflowBuckets = 1024

// memoryStore keeps counters in this process, at most capacity of them one
// by one. A counter whose window has passed is as good as none and is
// dropped. A counter whose window has not passed is never dropped to make
// room: if it were, a flood of new keys (one IPv6 /48 holds 65 536 /64s)
// would reset the counter of a client that is being limited. A key that
// finds the table full of live counters is counted coarsely instead, in one
// of overflowBuckets counters per limit shared by all such newcomers: never
// unlimited, at worst limited together with strangers until the flood's
// counters expire. Memory stays bounded either way.
type memoryStore struct {
	mu       sync.Mutex
	capacity int
	own      int // entries that are not overflow buckets
	entries  map[string]*entry
	byExpiry entryHeap // all entries, the soonest to expire first
	seed     maphash.Seed
}

type entry struct {
	key    string
	count  int
	last   int64 // unix nanoseconds of the last counted request
	window time.Duration
	bucket bool // an overflow bucket, not a key's own counter
	index  int  // in byExpiry
}

func (e *entry) expiry() int64 { return e.last + int64(e.window) }

func newMemoryStore(capacity int) *memoryStore {
	return &memoryStore{capacity: capacity, entries: make(map[string]*entry), seed: maphash.MakeSeed()}
}

func (m *memoryStore) hit(_ context.Context, key string, window time.Duration, max int, t time.Time) (bool, time.Duration, error) {
	ts := t.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(ts)
	e := m.entries[key]
	bucket := false
	if e == nil && m.own >= m.capacity {
		key, bucket = m.overflowKey(key, window, max), true
		e = m.entries[key]
	}
	switch {
	case e == nil:
		e = &entry{key: key, count: 1, last: ts, window: window, bucket: bucket}
		m.entries[key] = e
		heap.Push(&m.byExpiry, e)
		if !bucket {
			m.own++
		}
		return true, 0, nil
	case ts-e.last >= int64(window):
		e.count, e.last = 1, ts
	case e.count >= max:
		return false, time.Duration(e.last + int64(window) - ts), nil
	default:
		e.count++
		e.last = ts
	}
	e.window = window
	heap.Fix(&m.byExpiry, e.index)
	return true, 0, nil
}

// peek tells what a hit would answer, without counting one.
func (m *memoryStore) peek(key string, window time.Duration, max int, t time.Time) (bool, time.Duration) {
	ts := t.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	if e == nil && m.own >= m.capacity {
		e = m.entries[m.overflowKey(key, window, max)]
	}
	if e == nil || ts-e.last >= int64(window) || e.count < max {
		return true, 0
	}
	return false, time.Duration(e.last + int64(window) - ts)
}

// undo takes back one counted hit of key, leaving its window as it is.
func (m *memoryStore) undo(_ context.Context, key string, _ int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[key]; e != nil && e.count > 0 {
		e.count--
	}
	return nil
}

// overflowKey names the bucket that counts key while the table is full.
// Buckets are per limit, so that sign-in's 3 per 10 s and the general 100
// per 10 s never share a count; the seed keeps which keys share a bucket
// unknown to clients. The NUL cannot start a caller's key.
func (m *memoryStore) overflowKey(key string, window time.Duration, max int) string {
	b := maphash.String(m.seed, key) % overflowBuckets
	return "\x00overflow|" + strconv.FormatInt(int64(window), 10) + "|" + strconv.Itoa(max) + "|" + strconv.FormatUint(b, 10)
}

// expire drops the counters whose window has passed.
func (m *memoryStore) expire(ts int64) {
	for len(m.byExpiry) > 0 && m.byExpiry[0].expiry() <= ts {
		e := heap.Pop(&m.byExpiry).(*entry)
		delete(m.entries, e.key)
		if !e.bucket {
			m.own--
		}
	}
}

func (m *memoryStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// entryHeap orders entries by expiry, for container/heap.
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].expiry() < h[j].expiry() }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// Interface guards
var _ limitStore = (*memoryStore)(nil)
