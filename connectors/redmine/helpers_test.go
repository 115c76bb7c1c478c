package redmine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/redmine/redminefake"
)

// counter is a connectors.Observer that counts requests by class.
type counter struct {
	mu     sync.Mutex
	byKind map[string]int
	paused int
}

func newCounter() *counter { return &counter{byKind: map[string]int{}} }

func (c *counter) Request(_, class string, status int, _ time.Duration) {
	c.mu.Lock()
	c.byKind[class]++
	c.byKind[class+" "+strconv.Itoa(status)]++
	c.mu.Unlock()
}
func (c *counter) RateLimit(string, int, time.Time) {}
func (c *counter) Paused(string, time.Time) {
	c.mu.Lock()
	c.paused++
	c.mu.Unlock()
}

// get returns the count of a class ("read", "write") or class and status
// ("read 304").
func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKind[k]
}

func (c *counter) reset() {
	c.mu.Lock()
	c.byKind = map[string]int{}
	c.mu.Unlock()
}

// backend is a Redmine to test against: the fake or a real server. Every
// behaviour test runs against both, so the fake cannot drift from reality.
type backend struct {
	name string
	// connect returns a connector on a fresh, empty project.
	connect func(t *testing.T, obs connectors.Observer) *Connector
	// connectVia is connect with the connector's config changed by tune
	// first (its Base is nil: requests go to the default transport).
	connectVia func(t *testing.T, tune func(*Config)) *Connector
	// personOn acts as alice on the Redmine c (made by connectVia or
	// connect) talks to: with several fakes, the person ops of the
	// backend only reach the latest one.
	personOn func(c *Connector) person
	// edit changes an issue as a person would (alice).
	edit func(t *testing.T, id string, f connectors.Fields)
	// comment adds a note as alice.
	comment func(t *testing.T, id, body string)
	del     func(t *testing.T, id string)
	settle  func()
	// hooks provoking failures on the next request.
	rateLimitNext func(d time.Duration)
	rejectNext    func()
	crashNext     func()
}

func testConfig(u, key, project string, obs connectors.Observer) Config {
	return Config{
		Settings: Settings{URL: u, APIKey: "env:REDMINE_KEY", Project: project, PageSize: 3, RequestsPerSecond: -1},
		Target:   "test-redmine", APIKey: connectors.NewSecret(key), Observer: obs,
		MaxWait: 2 * time.Second, MaxRetries: 2, Timeout: 10 * time.Second,
	}
}

// person is what a person does in one Redmine, as alice.
type person struct {
	edit             func(t *testing.T, id string, f connectors.Fields)
	comment          func(t *testing.T, id, body string)
	commentPrivately func(t *testing.T, id, body string)
}

// fakePerson acts on one fake.
func fakePerson(srv *redminefake.Server) person {
	note := func(t *testing.T, id, body string, private bool) {
		t.Helper()
		n, _ := strconv.Atoi(id)
		if srv.Comment(n, "alice", body, private) == 0 {
			t.Fatalf("comment on #%s: no such issue", id)
		}
	}
	return person{
		edit: func(t *testing.T, id string, f connectors.Fields) {
			t.Helper()
			n, _ := strconv.Atoi(id)
			if !srv.Edit(n, func(is *redminefake.Issue) { fakeEdit(t, is, f) }) {
				t.Fatalf("edit #%s: no such issue", id)
			}
		},
		comment:          func(t *testing.T, id, body string) { note(t, id, body, false) },
		commentPrivately: func(t *testing.T, id, body string) { note(t, id, body, true) },
	}
}

// fakeBackend runs the fake; setup changes each new fake before use.
func fakeBackend(setup ...func(*redminefake.Server)) backend {
	var srv *redminefake.Server
	var mu sync.Mutex
	servers := map[*Connector]*redminefake.Server{}
	b := backend{name: "fake"}
	open := func(t *testing.T, obs connectors.Observer, tune func(*Config)) *Connector {
		srv = redminefake.New()
		t.Cleanup(srv.Close)
		for _, f := range setup {
			f(srv)
		}
		cfg := testConfig(srv.URL, srv.APIKey, "sync-test", obs)
		if tune != nil {
			tune(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		servers[c] = srv
		mu.Unlock()
		return c
	}
	b.connect = func(t *testing.T, obs connectors.Observer) *Connector { return open(t, obs, nil) }
	b.connectVia = func(t *testing.T, tune func(*Config)) *Connector { return open(t, nil, tune) }
	b.personOn = func(c *Connector) person {
		mu.Lock()
		defer mu.Unlock()
		return fakePerson(servers[c])
	}
	b.edit = func(t *testing.T, id string, f connectors.Fields) { t.Helper(); fakePerson(srv).edit(t, id, f) }
	b.comment = func(t *testing.T, id, body string) { t.Helper(); fakePerson(srv).comment(t, id, body) }
	b.del = func(t *testing.T, id string) {
		n, _ := strconv.Atoi(id)
		srv.Delete(n)
	}
	b.settle = func() {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range servers {
			s.Advance(time.Second)
		}
	}
	b.rateLimitNext = func(d time.Duration) { srv.RateLimitNext(d) }
	b.rejectNext = func() { srv.RejectNext() }
	b.crashNext = func() { srv.CrashAfterNextCreate() }
	return b
}

// fakeEdit applies native fields to a fake issue as a person's form would.
func fakeEdit(t *testing.T, is *redminefake.Issue, f connectors.Fields) {
	for name := range f {
		v := f.Get(name)
		switch name {
		case FieldSubject:
			is.Subject = v
		case FieldDescription:
			is.Description = v
		case FieldStatus:
			is.StatusID = slices.Index([]string{"", "New", "In Progress", "Resolved", "Feedback", "Closed", "Rejected"}, v)
		case FieldPriority:
			is.PriorityID = slices.Index([]string{"", "Low", "Normal", "High", "Urgent", "Immediate"}, v)
		case "Phase":
			is.Custom[redminefake.PhaseFieldID] = f[name]
		case "Teams":
			is.Custom[redminefake.TeamsFieldID] = slices.Sorted(slices.Values(f[name]))
		default:
			t.Fatalf("the fake's edit hook does not know field %q", name)
		}
	}
}

const liveSkip = "BACKLOGD_REDMINE_URL and BACKLOGD_REDMINE_API_KEY not set: start a Redmine with scripts/redmine-up.sh and export what it prints"

// liveBackend talks to a real Redmine through a reverse proxy that can
// provoke rate limits, rejections and lost answers. Each connect makes a
// fresh project (deleted after the test), with the members, categories
// and versions of the fake's sync-test.
func liveBackend(t *testing.T) (backend, bool) {
	base, key := os.Getenv("BACKLOGD_REDMINE_URL"), os.Getenv("BACKLOGD_REDMINE_API_KEY")
	if base == "" || key == "" {
		return backend{}, false
	}
	target, err := url.Parse(base)
	if err != nil {
		t.Fatalf("BACKLOGD_REDMINE_URL=%q: %v", base, err)
	}
	px := &proxy{next: httputil.NewSingleHostReverseProxy(target)}
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	admin := &adminClient{base: strings.TrimRight(base, "/"), key: key}
	b := backend{name: "live"}
	var seq atomic.Int64
	open := func(t *testing.T, obs connectors.Observer, tune func(*Config)) *Connector {
		ident := fmt.Sprintf("bl-%d-%d", time.Now().UnixNano()%1e9, seq.Add(1))
		admin.project(t, ident)
		cfg := testConfig(srv.URL, key, ident, obs)
		if tune != nil {
			tune(&cfg)
		}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b.connect = func(t *testing.T, obs connectors.Observer) *Connector { return open(t, obs, nil) }
	b.connectVia = func(t *testing.T, tune func(*Config)) *Connector { return open(t, nil, tune) }
	// Issue ids are the server's: one person reaches every project.
	b.personOn = func(*Connector) person {
		return person{
			edit:    b.edit,
			comment: b.comment,
			commentPrivately: func(t *testing.T, id, body string) {
				admin.send(t, "alice", http.MethodPut, "/issues/"+id+".json", map[string]any{"issue": map[string]any{"notes": body, "private_notes": true}}, nil)
			},
		}
	}
	b.edit = func(t *testing.T, id string, f connectors.Fields) {
		t.Helper()
		// A second connector acting as alice (admin's X-Redmine-Switch-User).
		cfg := testConfig(base, key, "sync-test", nil)
		cfg.Base = switchUser{"alice"}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Update(context.Background(), id, "", f, ""); err != nil {
			t.Fatalf("edit #%s as alice: %v", id, err)
		}
	}
	b.comment = func(t *testing.T, id, body string) {
		admin.send(t, "alice", http.MethodPut, "/issues/"+id+".json", map[string]any{"issue": map[string]any{"notes": body}}, nil)
	}
	b.del = func(t *testing.T, id string) { admin.send(t, "", http.MethodDelete, "/issues/"+id+".json", nil, nil) }
	b.settle = func() { time.Sleep(1100 * time.Millisecond) }
	b.rateLimitNext = func(d time.Duration) { px.set(func(p *proxy) { p.rateLimit = d }) }
	b.rejectNext = func() { px.set(func(p *proxy) { p.reject = true }) }
	b.crashNext = func() { px.set(func(p *proxy) { p.crash = true }) }
	return b, true
}

// backends returns the fake, and the real server when the environment
// names one.
func backends(t *testing.T) []backend {
	bs := []backend{fakeBackend()}
	if b, ok := liveBackend(t); ok {
		bs = append(bs, b)
	}
	return bs
}

// eachBackend runs f against every backend as a subtest.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run("against the "+b.name+" Redmine", func(t *testing.T) { f(t, b) })
	}
}

// proxy sits between the connector and a real Redmine to provoke what
// Redmine itself never does: a 429 from a proxy, a 401, a lost answer.
type proxy struct {
	next http.Handler

	mu        sync.Mutex
	rateLimit time.Duration
	reject    bool
	crash     bool
}

func (p *proxy) set(f func(*proxy)) {
	p.mu.Lock()
	f(p)
	p.mu.Unlock()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	rl, reject := p.rateLimit, p.reject
	crash := p.crash && r.Method == http.MethodPost && r.URL.Path == "/issues.json"
	p.rateLimit, p.reject = 0, false
	if crash {
		p.crash = false
	}
	p.mu.Unlock()
	switch {
	case rl > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int((rl+time.Second-1)/time.Second)))
		w.WriteHeader(http.StatusTooManyRequests)
	case reject:
		r.Header.Set("X-Redmine-API-Key", "revoked")
		p.next.ServeHTTP(w, r)
	case crash:
		p.next.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	default:
		p.next.ServeHTTP(w, r)
	}
}

// switchUser makes writes as another user (admin keys only); reads stay
// the admin's, who sees every custom field.
type switchUser struct{ login string }

func (s switchUser) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		r = r.Clone(r.Context())
		r.Header.Set("X-Redmine-Switch-User", s.login)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// adminClient sets up and tears down projects on a real Redmine.
type adminClient struct {
	base, key string
	roleID    int
}

func (a *adminClient) send(t *testing.T, as, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("X-Redmine-API-Key", a.key)
	req.Header.Set("Content-Type", "application/json")
	if as != "" {
		req.Header.Set("X-Redmine-Switch-User", as)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

func (a *adminClient) project(t *testing.T, ident string) {
	var p struct {
		Project struct{ ID int } `json:"project"`
	}
	a.send(t, "", http.MethodPost, "/projects.json", map[string]any{"project": map[string]any{
		"name": ident, "identifier": ident, "is_public": false, "tracker_ids": []int{1, 2, 3},
		"enabled_module_names": []string{"issue_tracking"},
	}}, &p)
	t.Cleanup(func() {
		a.send(t, "", http.MethodDelete, fmt.Sprintf("/projects/%d.json", p.Project.ID), nil, nil)
	})
	if a.roleID == 0 {
		var roles struct {
			Roles []ref `json:"roles"`
		}
		a.send(t, "", http.MethodGet, "/roles.json", nil, &roles)
		for _, r := range roles.Roles {
			if r.Name == "Manager" {
				a.roleID = r.ID
			}
		}
	}
	var users userList
	a.send(t, "", http.MethodGet, "/users.json", nil, &users)
	for _, u := range users.Users {
		if u.Login == "alice" || u.Login == "bob" {
			a.send(t, "", http.MethodPost, "/projects/"+ident+"/memberships.json", map[string]any{"membership": map[string]any{"user_id": u.ID, "role_ids": []int{a.roleID}}}, nil)
		}
	}
	for _, n := range []string{"Backend", "Frontend"} {
		a.send(t, "", http.MethodPost, "/projects/"+ident+"/issue_categories.json", map[string]any{"issue_category": map[string]any{"name": n}}, nil)
	}
	for _, n := range []string{"1.0", "2.0"} {
		a.send(t, "", http.MethodPost, "/projects/"+ident+"/versions.json", map[string]any{"version": map[string]any{"name": n}}, nil)
	}
}

// harness adapts a backend to the shared conformance suite.
func (b backend) harness() connectortest.Harness {
	return connectortest.Harness{
		New: func(t *testing.T) connectors.Connector { return b.connect(t, nil) },
		Reconnect: func(t *testing.T, c connectors.Connector) connectors.Connector {
			again, err := New(c.(*Connector).cfg)
			if err != nil {
				t.Fatal(err)
			}
			return again
		},
		Sample:               sample,
		TitleField:           FieldSubject,
		MultiField:           "Teams",
		PageSize:             3,
		Edit:                 b.edit,
		Delete:               b.del,
		RateLimitNext:        func(_ *testing.T, d time.Duration) { b.rateLimitNext(d) },
		RejectNext:           func(*testing.T) { b.rejectNext() },
		CrashAfterNextCreate: func(*testing.T) { b.crashNext() },
		Settle:               b.settle,
	}
}

func sample(i int) connectors.Fields {
	f := connectors.Fields{}
	f.Set(FieldSubject, fmt.Sprintf("Conformance record %d", i))
	f.Set(FieldDescription, fmt.Sprintf("Body of record %d\nwith *Markdown*.", i))
	f.Set(FieldTracker, []string{"Bug", "Feature", "Support"}[i%3])
	f.Set("Teams", []string{"Backend", "Design", "Frontend"}[i%3], "QA")
	return f
}

// drain lists Changes until caught up and returns the ids in order.
func drain(t *testing.T, c *Connector, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for range 1000 {
		p, err := c.Changes(context.Background(), cursor)
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
