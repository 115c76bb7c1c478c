package syncer

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// queue is one target's work queue, in the manner of client-go's
// workqueue: a key is held at most once however often it is added; a key
// added while a worker holds it is processed again after Done, never by
// two workers at once; keys can be added after a delay; and the whole
// queue can be paused (the tracker asked us to slow down) without losing
// what is in it.
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
	closed     bool
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
	if q.closed {
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
	at := q.now().Add(d)
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

// Close wakes every waiting Get; later Adds are dropped.
func (q *queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
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
