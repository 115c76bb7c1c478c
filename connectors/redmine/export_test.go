package redmine

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/backlogd/backlogd/connectors"
)

// What the syncer tests of package redmine_test (sync_test.go) use of
// this package's test backends: the fake, and a real Redmine when
// BACKLOGD_REDMINE_URL and BACKLOGD_REDMINE_API_KEY name one.

// TestBackend is a Redmine to sync with.
type TestBackend struct{ b backend }

// LiveSkip is the message tests skip with when no real Redmine is set.
const LiveSkip = liveSkip

// FakeBackend returns the in-process fake.
func FakeBackend() TestBackend { return TestBackend{fakeBackend()} }

// LiveBackend returns the real Redmine the environment names, if any.
func LiveBackend(t *testing.T) (TestBackend, bool) {
	b, ok := liveBackend(t)
	return TestBackend{b}, ok
}

// Name is "fake" or "live".
func (tb TestBackend) Name() string { return tb.b.name }

// Connect returns a connector (names loaded) on a fresh project with the
// fake's members, fields and values, listing pageSize issues a page (0:
// Redmine's 100); wrap, when not nil, sees every request it sends.
func (tb TestBackend) Connect(t *testing.T, pageSize int, wrap func(next http.RoundTripper) http.RoundTripper) *Connector {
	t.Helper()
	c := tb.b.connectVia(t, func(cfg *Config) {
		cfg.PageSize = pageSize
		if pageSize == 0 {
			cfg.PageSize = DefaultPageSize
		}
		if wrap != nil {
			cfg.Base = wrap(http.DefaultTransport.(*http.Transport).Clone())
		}
	})
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// Reader returns a second connector on c's project that counts nothing,
// for a test to look at what Redmine holds.
func Reader(t *testing.T, c *Connector) *Connector {
	t.Helper()
	cfg := c.cfg
	cfg.Base, cfg.Observer = nil, nil
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Person acts as alice in the Redmine of one connector.
type Person struct{ p person }

// PersonOn returns alice in the Redmine c (made by Connect) talks to.
func (tb TestBackend) PersonOn(c *Connector) Person { return Person{tb.b.personOn(c)} }

// Edit changes issue id as alice would in the web UI.
func (p Person) Edit(t *testing.T, id string, f connectors.Fields) { t.Helper(); p.p.edit(t, id, f) }

// Comment adds a public note as alice.
func (p Person) Comment(t *testing.T, id, body string) { t.Helper(); p.p.comment(t, id, body) }

// CommentPrivately adds a private note as alice.
func (p Person) CommentPrivately(t *testing.T, id, body string) {
	t.Helper()
	p.p.commentPrivately(t, id, body)
}

// Settle waits out Redmine's one-second resolution of updated_on.
func (tb TestBackend) Settle() { tb.b.settle() }

// AddUnmarked creates an issue in c's project as a person would: no
// External ID, so the syncer may adopt it. It returns the issue id.
func AddUnmarked(t *testing.T, c *Connector, subject, tracker string) string {
	t.Helper()
	m, err := c.metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tid, ok := m.trackers.id(tracker)
	if !ok {
		t.Fatalf("no tracker %q", tracker)
	}
	var env issueEnvelope
	body := map[string]any{"issue": map[string]any{"project_id": m.projectID, "subject": subject, "tracker_id": tid, "description": "Reported in Redmine."}}
	if err := c.do(t.Context(), call{method: http.MethodPost, path: "/issues.json", in: body, out: &env}); err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(env.Issue.ID)
}
