package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
)

var bg = context.Background()

// clock is a settable clock for created/updated stamps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type fixture struct {
	c     *Connector
	dir   string
	clock *clock
	logs  *logBuffer
}

func newFixture(t testing.TB, opts ...Option) *fixture {
	t.Helper()
	return openFixture(t, t.TempDir(), opts...)
}

// openFixture opens a connector on dir, as a restarted daemon would.
func openFixture(t testing.TB, dir string, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{dir: dir, clock: newClock(), logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := New(dir, append([]Option{WithClock(f.clock.Now), WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

func fields(kv ...string) connectors.Fields {
	f := connectors.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = append(f[kv[i]], kv[i+1])
	}
	return f
}

func (f *fixture) create(t testing.TB, marker string, fs connectors.Fields) connectors.Record {
	t.Helper()
	r, err := f.c.Create(bg, marker, fs)
	if err != nil {
		t.Fatalf("create %s: %v", marker, err)
	}
	return r
}

func (f *fixture) get(t testing.TB, id string) connectors.Record {
	t.Helper()
	r, err := f.c.Get(bg, id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return r
}

func (f *fixture) read(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (f *fixture) write(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// drain lists Changes from cursor until caught up and returns the ids in
// order and the final cursor.
func drain(t testing.TB, c *Connector, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for range 10000 {
		p, err := c.Changes(bg, cursor)
		if err != nil {
			t.Fatalf("changes: %v", err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		cursor = p.Cursor
		if !p.More {
			return ids, cursor
		}
	}
	t.Fatal("changes never caught up")
	return nil, ""
}

// editByHand rewrites a file in place the way a text editor does: the
// fields change, everything else (marker, version, updated) is left as it
// was, and nothing is renamed.
func editByHand(t testing.TB, dir, id string, fs connectors.Fields) {
	t.Helper()
	path := filepath.Join(dir, id+".yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("edit %s: %v", id, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("edit %s: %v", id, err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	for _, name := range fs.Names() {
		if err := setField(doc.Content[0], name, fs[name]); err != nil {
			t.Fatalf("edit %s: %v", id, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// harness adapts the connector to the shared conformance suite. Each New
// opens a fresh directory; the hooks act on the latest one.
func harness() connectortest.Harness {
	var cur *fixture
	return connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			cur = newFixture(t, WithPageSize(3))
			return cur.c
		},
		// A new connector on the same directory, as a restarted daemon.
		Reconnect: func(t *testing.T, _ connectors.Connector) connectors.Connector {
			return openFixture(t, cur.dir, WithPageSize(3)).c
		},
		Sample:     sample,
		TitleField: "title",
		MultiField: "labels",
		PageSize:   3,
		Edit: func(t *testing.T, id string, fs connectors.Fields) {
			editByHand(t, cur.dir, id, fs)
		},
		Delete: func(t *testing.T, id string) {
			if err := os.Remove(filepath.Join(cur.dir, id+".yaml")); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		},
		CrashAfterNextCreate: func(*testing.T) { cur.c.crashAfterNextCreate() },
		// No rate limits in files. A refusal is a permission error, as
		// from a directory an administrator locked.
		RateLimitNext: nil,
		RejectNext:    func(*testing.T) { cur.c.refuseNext() },
		// Change times have nanosecond resolution and the cursor overlaps:
		// no wait needed.
		Settle: nil,
	}
}

func sample(i int) connectors.Fields {
	f := connectors.Fields{}
	f.Set("title", fmt.Sprintf("Conformance record %d", i))
	f.Set("description", fmt.Sprintf("Body of record %d\nwith *Markdown*.", i))
	f.Set("kind", []string{"bug", "story", "task"}[i%3])
	f.Set("labels", []string{"backend", "design", "frontend"}[i%3], "qa")
	return f
}

func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if isTemp(de.Name()) {
			out = append(out, de.Name())
		}
	}
	return out
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func mustContain(t testing.TB, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not contain %q", s, sub)
		}
	}
}
