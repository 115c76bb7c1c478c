package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// githubGate stands between the daemon and the fake GitHub, so a test can
// hold one issue's reads (an in-flight reconcile that keeps a reload
// waiting) and take the issue listing down (a poll that fails).
type githubGate struct {
	srv   *httptest.Server
	issue string // path of the issue whose reads are held

	mu       sync.Mutex
	holding  bool
	held     chan struct{} // closed when a held read arrived
	release  chan struct{}
	listDown bool
}

func newGithubGate(t *testing.T, gh *githubfake.Server) *githubGate {
	t.Helper()
	u, err := url.Parse(gh.URL)
	if err != nil {
		t.Fatal(err)
	}
	g := &githubGate{}
	rp := httputil.NewSingleHostReverseProxy(u)
	listing := "/repos/" + gh.Options().Owner + "/" + gh.Options().Repo + "/issues"
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		hold := g.holding && r.Method == http.MethodGet && r.URL.Path == g.issue
		held, release, down := g.held, g.release, g.listDown && r.URL.Path == listing
		if hold {
			select {
			case <-held:
			default:
				close(held)
			}
		}
		g.mu.Unlock()
		if hold {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		if down {
			http.Error(w, `{"message":"Server Error"}`, http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// hold makes reads of issue n wait until released.
func (g *githubGate) hold(repoPath string, n int) {
	g.mu.Lock()
	g.issue = fmt.Sprintf("%s/issues/%d", repoPath, n)
	g.holding, g.held, g.release = true, make(chan struct{}), make(chan struct{})
	g.mu.Unlock()
}

// waitHeld waits until a read of the held issue arrived.
func (g *githubGate) waitHeld(t *testing.T, timeout time.Duration) {
	t.Helper()
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	select {
	case <-held:
	case <-time.After(timeout):
		t.Fatalf("no read of %s within %s", g.issue, timeout)
	}
}

// unhold lets the held reads and every later one through.
func (g *githubGate) unhold() {
	g.mu.Lock()
	if g.holding {
		close(g.release)
		g.holding = false
	}
	g.mu.Unlock()
}

// takeListingDown answers every issue listing with a 502.
func (g *githubGate) takeListingDown() {
	g.mu.Lock()
	g.listDown = true
	g.mu.Unlock()
}

// itemTitles returns the titles of the canonical items the daemon holds.
func itemTitles(t *testing.T, d *opsDaemon) []string {
	t.Helper()
	code, body := d.get("/api/v1/items")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/items: %d %s", code, body)
	}
	var items []struct {
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(body), &items); err != nil {
		t.Fatalf("/api/v1/items: %v: %s", err, body)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Title)
	}
	return out
}

// The reload waits for the old syncer's in-flight writes; all that time
// its HTTP handler takes webhooks. One GitHub sends then is answered 202
// and recorded as seen, so GitHub never sends it again; the daemon must
// reconcile it after the reload. GitHub is polled once an hour and its
// listing fails after the reload, so only the webhook can bring the
// issue in.
func TestAWebhookAcceptedDuringAReloadIsReconciledAfterIt(t *testing.T) {
	bin := opsBinary(t)
	const hookKey = "whsec_reload-test"
	gh := githubfake.New(githubfake.Options{Collaborators: []string{"alice-gh", "bobdev"}})
	defer gh.Close()
	gate := newGithubGate(t, gh)
	dir := t.TempDir()
	target := opsTarget{Name: "acme-github", Kind: "github", Client: githubClientFile(t), Poll: "1h", Settings: map[string]string{
		"owner": "acme", "repo": "webshop", "base_url": gate.srv.URL + "/",
		"token": "env:ACME_GITHUB_TOKEN", "webhook_secret": "env:ACME_WEBHOOK_SECRET",
	}}
	opsWriteConfig(t, dir, append(fileTargets(t, "home"), target), "")
	d := startDaemon(t, bin, dir, []string{"ACME_GITHUB_TOKEN=" + gh.Options().Token, "ACME_WEBHOOK_SECRET=" + hookKey})
	waitReady(t, d)
	gh.SetWebhook("http://"+d.addr+"/webhooks/acme-github", hookKey)

	// A bug is opened; the daemon's read of it is held, so the reload
	// that follows waits for that reconcile.
	repo := "/repos/acme/webshop"
	gate.hold(repo, 1)
	first := gh.AddIssue(githubfake.Issue{Title: "Card declined on retry", Labels: []string{"type/bug"}, User: "alice-gh"})
	if first != 1 {
		t.Fatalf("the first issue is #%d, want #1", first)
	}
	gate.waitHeld(t, reloadTimeout)
	d.signal(syscall.SIGHUP)
	d.waitLog(reloadTimeout, func(e map[string]any) bool {
		return strings.HasPrefix(fmt.Sprint(e["msg"]), "reloading:")
	})

	// The old syncer is stopping now. A second bug is opened, and the
	// listing fails from here on.
	gate.takeListingDown()
	second := gh.AddIssue(githubfake.Issue{Title: "Totals off by a cent", Labels: []string{"type/bug"}, User: "alice-gh"})
	eventually(t, reloadTimeout, "GitHub's delivery of the second issue answered", func() bool {
		for _, dl := range gh.Deliveries() {
			if dl.Issue == second && dl.Action == "opened" && dl.Status != 0 {
				return true
			}
		}
		return false
	})
	for _, dl := range gh.Deliveries() {
		if dl.Issue == second && dl.Action == "opened" && dl.Status != http.StatusAccepted {
			t.Fatalf("the delivery of #%d during the reload was answered %d, want 202", second, dl.Status)
		}
	}
	gate.unhold()
	d.waitLog(reloadTimeout, func(e map[string]any) bool { return e["msg"] == "config reloaded" })

	eventually(t, reloadTimeout, "the bug being read when the reload came, taken in", func() bool {
		return slices.Contains(itemTitles(t, d), "Card declined on retry")
	})
	eventually(t, reloadTimeout, "the bug whose webhook came during the reload, taken in", func() bool {
		return slices.Contains(itemTitles(t, d), "Totals off by a cent")
	})
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after the reload and SIGTERM, want 0", code)
	}
	checkLogLines(t, d.logs.Lines())
}
