package syncer

import (
	"context"
	"slices"
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
	t.Run("a closed queue hands nothing out but lists the keys added after Close", func(t *testing.T) {
		q := newQueue(clock)
		q.Add("BL-1")
		q.Close()
		q.Add("remote:7")
		q.AddAfter("BL-2", time.Minute)
		q.Add("BL-1")
		if k, ok := q.Get(context.Background()); ok {
			t.Fatalf("closed queue handed out %q", k)
		}
		got := q.Pending()
		want := []pendingKey{{key: "BL-1"}, {key: "remote:7"}, {key: "BL-2", at: clock().Add(time.Minute)}}
		if !slices.Equal(got, want) {
			t.Fatalf("Pending() = %v, want %v", got, want)
		}
	})
	t.Run("a key added while held is listed as pending once, as due now", func(t *testing.T) {
		q := newQueue(clock)
		q.Add("BL-1")
		k, _ := q.TryGet()
		q.AddAfter(k, time.Hour)
		q.Add(k)
		if got, want := q.Pending(), []pendingKey{{key: "BL-1"}}; !slices.Equal(got, want) {
			t.Fatalf("Pending() = %v, want %v", got, want)
		}
	})
	t.Run("a handed-over queue gives its keys, due times and pause to the next one", func(t *testing.T) {
		old, next := newQueue(clock), newQueue(clock)
		old.Add("BL-1")
		old.AddAfter("BL-2", time.Minute)
		old.Pause(clock().Add(30 * time.Second))
		old.Close()
		old.Add("remote:7")
		if n := old.handOver(next); n != 3 {
			t.Fatalf("handOver moved %d keys, want 3", n)
		}
		if got := old.Pending(); len(got) != 0 {
			t.Errorf("the old queue still lists %v after handing over", got)
		}
		if _, ok := next.TryGet(); ok {
			t.Fatal("the next queue ignores the pause the tracker asked for")
		}
		advance(30 * time.Second)
		var got []string
		for {
			k, ok := next.TryGet()
			if !ok {
				break
			}
			got = append(got, k)
			next.Done(k)
		}
		if !slices.Equal(got, []string{"BL-1", "remote:7"}) {
			t.Fatalf("the next queue handed out %v after the pause, want [BL-1 remote:7]", got)
		}
		advance(30 * time.Second)
		if k, ok := next.TryGet(); !ok || k != "BL-2" {
			t.Fatalf("the delayed key is not due in the next queue when it was in the old one: %q %v", k, ok)
		}
	})
	t.Run("keys added to a handed-over queue go to the next one", func(t *testing.T) {
		old, next := newQueue(clock), newQueue(clock)
		old.Close()
		old.handOver(next)
		old.Add("remote:8")
		old.AddAfter("BL-3", time.Minute)
		want := []pendingKey{{key: "remote:8"}, {key: "BL-3", at: clock().Add(time.Minute)}}
		if got := next.Pending(); !slices.Equal(got, want) {
			t.Fatalf("next.Pending() = %v, want %v", got, want)
		}
		if got := old.Pending(); len(got) != 0 {
			t.Errorf("the old queue kept %v", got)
		}
	})
	t.Run("a queue handed over to none drops its keys, now and later", func(t *testing.T) {
		q := newQueue(clock)
		q.Add("BL-1")
		q.Close()
		q.handOver(nil)
		q.Add("BL-2")
		if got := q.Pending(); len(got) != 0 {
			t.Fatalf("a removed target's queue kept %v", got)
		}
	})
}
