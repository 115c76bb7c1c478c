package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/backlogd/backlogd/syncer/store"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
	"github.com/backlogd/backlogd/syncer/store/storetest"
)

// fileHarness runs the suite on database files, remembering each store's
// path so that Reopen opens the same file.
func fileHarness(opts ...sqlite.Option) storetest.Harness {
	var mu sync.Mutex
	paths := map[store.Store]string{}
	open := func(t *testing.T, path string) store.Store {
		t.Helper()
		st, err := sqlite.Open(t.Context(), path, opts...)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { st.Close() })
		mu.Lock()
		paths[st] = path
		mu.Unlock()
		return st
	}
	return storetest.Harness{
		New: func(t *testing.T) store.Store {
			return open(t, filepath.Join(t.TempDir(), "backlogd.db"))
		},
		Reopen: func(t *testing.T, st store.Store) store.Store {
			mu.Lock()
			path := paths[st]
			mu.Unlock()
			if err := st.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			return open(t, path)
		},
	}
}

func TestConformance(t *testing.T) {
	t.Run("on a file", func(t *testing.T) { storetest.Run(t, fileHarness()) })
	t.Run("on a file with one connection", func(t *testing.T) { storetest.Run(t, fileHarness(sqlite.WithReaders(0))) })
	t.Run("in memory", func(t *testing.T) {
		storetest.Run(t, storetest.Harness{New: func(t *testing.T) store.Store {
			st, err := sqlite.Open(t.Context(), sqlite.Memory)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}})
	})
}
