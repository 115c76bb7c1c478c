package syncer

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"time"
)

// queue is one target's work queue, in the manner of client-go's
// workqueue: a key is held at most once however often it is added; a key
// added while a worker holds it is processed again after Done, never by
// two workers at once; keys can be added after a delay; and the whole
// queue can be paused (the tracker asked us to slow down) without losing
// what is in it. A queue that stops (Close) keeps what is added to it
// and can hand all of it to the queue that replaces it (handOver).
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string             // ready keys, FIFO
	ready      map[string]bool      // keys in order
	processing map[string]bool      // keys a worker holds
	dirty      map[string]bool      // added while processing: run again after Done
	since      map[string]time.Time // when a waiting key was first added, for the age metric
	delayed    delayHeap
	delayedAt  map[string]time.Time
	pauseUntil time.Time
	// closed stops Get handing keys out; keys are still taken in, for
	// handOver to give them to the next queue.
	closed bool
	// handedOver is set by handOver; from then on every key added goes
	// to next (dropped when next is nil). Locks are taken old queue
	// first, then its next: a next queue never calls into the one it
	// replaced.
	handedOver bool
	next       *queue
	now        func() time.Time
}

func newQueue(now func() time.Time) *queue {
	q := &queue{
		ready:      map[string]bool{},
		processing: map[string]bool{},
		dirty:      map[string]bool{},
		since:      map[string]time.Time{},
		delayedAt:  map[string]time.Time{},
		now:        now,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add makes key ready now.
func (q *queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *queue) addLocked(key string) {
	if q.handedOver {
		if q.next != nil {
			q.next.Add(key)
		}
		return
	}
	if _, ok := q.since[key]; !ok {
		q.since[key] = q.now()
	}
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if q.ready[key] {
		return
	}
	q.ready[key] = true
	q.order = append(q.order, key)
	q.cond.Signal()
}

// AddAfter makes key ready after d (at once when d ≤ 0). An earlier
// pending time for the same key wins.
func (q *queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addAtLocked(key, q.now().Add(d))
}

// addAtLocked makes key ready at at, unless it is due earlier already.
func (q *queue) addAtLocked(key string, at time.Time) {
	if q.handedOver {
		if n := q.next; n != nil {
			n.mu.Lock()
			n.addAtLocked(key, at)
			n.mu.Unlock()
		}
		return
	}
	if cur, ok := q.delayedAt[key]; ok && !at.Before(cur) {
		return
	}
	q.delayedAt[key] = at
	heap.Push(&q.delayed, delayed{key: key, at: at})
	q.cond.Broadcast()
}

// Pause holds every key until t.
func (q *queue) Pause(t time.Time) {
	q.mu.Lock()
	if t.After(q.pauseUntil) {
		q.pauseUntil = t
	}
	q.mu.Unlock()
}

// PausedUntil reports the end of the current pause (zero if none).
func (q *queue) PausedUntil() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.now().After(q.pauseUntil) {
		return time.Time{}
	}
	return q.pauseUntil
}

// promote moves due delayed keys to ready and returns how long until the
// next one is due (0: none waiting).
func (q *queue) promote() time.Duration {
	now := q.now()
	for len(q.delayed) > 0 {
		d := q.delayed[0]
		if q.delayedAt[d.key] != d.at {
			heap.Pop(&q.delayed) // superseded by an earlier time
			continue
		}
		if d.at.After(now) {
			return d.at.Sub(now)
		}
		heap.Pop(&q.delayed)
		delete(q.delayedAt, d.key)
		q.addLocked(d.key)
	}
	return 0
}

// Get blocks until a key is ready (and the queue not paused) and hands it
// to the caller, who must call Done. ok is false when ctx ends or the
// queue is closed.
func (q *queue) Get(ctx context.Context) (key string, ok bool) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.closed || ctx.Err() != nil {
			return "", false
		}
		next := q.promote()
		wait := next
		if p := q.pauseUntil.Sub(q.now()); p > 0 {
			wait = p
		} else if len(q.order) > 0 {
			key = q.order[0]
			q.order = q.order[1:]
			delete(q.ready, key)
			delete(q.since, key)
			q.processing[key] = true
			return key, true
		}
		if wait > 0 {
			// Wake up for the next delayed key or the end of the pause.
			t := time.AfterFunc(wait, func() {
				q.mu.Lock()
				q.cond.Broadcast()
				q.mu.Unlock()
			})
			q.cond.Wait()
			t.Stop()
		} else {
			q.cond.Wait()
		}
	}
}

// TryGet is Get without blocking: ok is false when nothing is ready now.
func (q *queue) TryGet() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promote()
	if len(q.order) == 0 || q.now().Before(q.pauseUntil) {
		return "", false
	}
	key = q.order[0]
	q.order = q.order[1:]
	delete(q.ready, key)
	delete(q.since, key)
	q.processing[key] = true
	return key, true
}

// Done releases key; if it was added meanwhile it becomes ready again.
func (q *queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		delete(q.dirty, key)
		q.addLocked(key)
	}
}

// Len is the number of keys waiting (ready, delayed or dirty).
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order) + len(q.delayedAt) + len(q.dirty)
}

// Busy reports whether any key is ready, dirty or being processed.
// Delayed keys do not count, nor do ready keys of a paused queue: they
// wait for time, not for a worker.
func (q *queue) Busy() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promote()
	if len(q.processing) > 0 {
		return true
	}
	if q.now().Before(q.pauseUntil) {
		return false
	}
	return len(q.order) > 0 || len(q.dirty) > 0
}

// NextDue is how long until the earliest delayed key is due (0 when
// none is delayed, or the queue is paused: a pause is not soon work).
func (q *queue) NextDue() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.now().Before(q.pauseUntil) {
		return 0
	}
	var next time.Duration
	for _, at := range q.delayedAt {
		d := max(at.Sub(q.now()), time.Nanosecond)
		if next == 0 || d < next {
			next = d
		}
	}
	return next
}

// Oldest is how long the oldest waiting key has waited.
func (q *queue) Oldest() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	var oldest time.Time
	for _, t := range q.since {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return q.now().Sub(oldest)
}

// Close wakes every waiting Get and stops handing keys out. Keys added
// later are kept, not dropped: a reload stops a generation of the syncer
// while its HTTP handler still takes webhooks, and what they add is
// handed to the next generation (handOver).
func (q *queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// pendingKey is a key a queue still owes work on, and when it is due
// (zero: now).
type pendingKey struct {
	key string
	at  time.Time
}

func (p pendingKey) String() string {
	if p.at.IsZero() {
		return p.key
	}
	return p.key + " at " + p.at.Format(time.RFC3339Nano)
}

// Pending lists the keys waiting in the queue: ready ones in the order
// Get hands them out, then dirty ones (added while a worker held them),
// then delayed ones by due time. Keys a worker holds are not listed: they
// are added again if they need another run. A closed queue lists what
// was added after Close too.
func (q *queue) Pending() []pendingKey {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pendingLocked()
}

func (q *queue) pendingLocked() []pendingKey {
	var out []pendingKey
	now := map[string]bool{}
	for _, k := range q.order {
		out = append(out, pendingKey{key: k})
		now[k] = true
	}
	dirty := make([]string, 0, len(q.dirty))
	for k := range q.dirty {
		if !now[k] {
			dirty = append(dirty, k)
		}
	}
	sort.Strings(dirty)
	for _, k := range dirty {
		out = append(out, pendingKey{key: k})
		now[k] = true
	}
	var later []pendingKey
	for k, at := range q.delayedAt {
		if !now[k] {
			later = append(later, pendingKey{key: k, at: at})
		}
	}
	sort.Slice(later, func(i, j int) bool {
		if !later[i].at.Equal(later[j].at) {
			return later[i].at.Before(later[j].at)
		}
		return later[i].key < later[j].key
	})
	return append(out, later...)
}

// handOver gives every pending key to next, delayed ones still due when
// they were, with the pause and how long each key has waited, and sends
// every key added from now on to next too. A reload replaces a syncer
// generation with one that has a queue of its own per target; requests
// the old generation was serving can still add keys to the old queue
// after it stopped, and under the queue's lock no such key can fall
// between the keys handed over and the ones sent on. next nil drops the
// keys: the target is gone. It returns the number of keys handed over.
func (q *queue) handOver(next *queue) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.handedOver || next == q {
		return 0
	}
	keys := q.pendingLocked()
	since, pause := q.since, q.pauseUntil
	q.handedOver, q.next, q.closed = true, next, true
	q.order, q.ready, q.dirty, q.since = nil, map[string]bool{}, map[string]bool{}, map[string]time.Time{}
	q.delayed, q.delayedAt = nil, map[string]time.Time{}
	q.cond.Broadcast()
	if next == nil {
		return len(keys)
	}
	next.mu.Lock()
	defer next.mu.Unlock()
	for _, p := range keys {
		if !p.at.IsZero() {
			next.addAtLocked(p.key, p.at)
			continue
		}
		next.addLocked(p.key)
		// The age metric counts from when the key was first added, in
		// whichever generation.
		if t, ok := since[p.key]; ok {
			if cur, waiting := next.since[p.key]; waiting && t.Before(cur) {
				next.since[p.key] = t
			}
		}
	}
	// A reload changes the config, not the tracker's limits: the pause
	// it asked for still holds.
	if pause.After(next.pauseUntil) {
		next.pauseUntil = pause
	}
	return len(keys)
}

type delayed struct {
	key string
	at  time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
