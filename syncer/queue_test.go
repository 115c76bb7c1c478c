package syncer

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	t.Run("a key added many times is handed out once", func(t *testing.T) {
		q := newQueue(clock)
		for range 5 {
			q.Add("BL-1")
		}
		q.Add("BL-2")
		var got []string
		for {
			k, ok := q.TryGet()
			if !ok {
				break
			}
			got = append(got, k)
			q.Done(k)
		}
		if len(got) != 2 || got[0] != "BL-1" || got[1] != "BL-2" {
			t.Fatalf("got %v, want [BL-1 BL-2]", got)
		}
	})
	t.Run("a key added while held runs again after Done, never twice at once", func(t *testing.T) {
		q := newQueue(clock)
		q.Add("BL-1")
		k, _ := q.TryGet()
		q.Add("BL-1")
		if _, ok := q.TryGet(); ok {
			t.Fatal("key handed out while a worker holds it")
		}
		q.Done(k)
		if k2, ok := q.TryGet(); !ok || k2 != "BL-1" {
			t.Fatalf("dirty key not requeued after Done: %q %v", k2, ok)
		}
	})
	t.Run("a delayed key waits for its time", func(t *testing.T) {
		q := newQueue(clock)
		q.AddAfter("BL-3", time.Minute)
		if _, ok := q.TryGet(); ok {
			t.Fatal("delayed key ready early")
		}
		advance(time.Minute)
		if k, ok := q.TryGet(); !ok || k != "BL-3" {
			t.Fatalf("delayed key not ready after its delay: %q %v", k, ok)
		}
	})
	t.Run("a paused queue keeps its keys and hands none out", func(t *testing.T) {
		q := newQueue(clock)
		q.Add("BL-4")
		q.Pause(clock().Add(time.Hour))
		if _, ok := q.TryGet(); ok {
			t.Fatal("paused queue handed out a key")
		}
		if q.Len() != 1 {
			t.Fatalf("Len = %d, want 1", q.Len())
		}
		advance(time.Hour + time.Second)
		if k, ok := q.TryGet(); !ok || k != "BL-4" {
			t.Fatalf("key lost across a pause: %q %v", k, ok)
		}
	})
	t.Run("Get returns when the context ends", func(t *testing.T) {
		q := newQueue(clock)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan bool)
		go func() { _, ok := q.Get(ctx); done <- ok }()
		cancel()
		if ok := <-done; ok {
			t.Fatal("Get handed out a key from an empty queue")
		}
	})
}
