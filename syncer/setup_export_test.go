package syncer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/backlogd/backlogd/mapping"
	"github.com/backlogd/backlogd/syncer/store/sqlite"
)

// LoadTestConfig writes files (paths under dir) and loads
// dir/backlogd.yaml: the setup of every test world here and in package
// syncer_test.
func LoadTestConfig(t testing.TB, dir string, files map[string]string) *mapping.Config {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := mapping.Load(filepath.Join(dir, "backlogd.yaml"))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// OpenTestStore opens the store dir/state.db, closed when the test ends.
func OpenTestStore(t testing.TB, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
