package githubfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

func get(t *testing.T, s *Server, path string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.Options().Token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestFakeBehavesLikeGitHub(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return t0 }})
	defer s.Close()
	for i := 0; i < 5; i++ {
		s.AddIssue(Issue{Title: "i"})
		s.Advance(500 * time.Millisecond)
	}
	s.AddPullRequest("pr")

	t.Run("since is inclusive at one-second resolution", func(t *testing.T) {
		resp := get(t, s, "repos/acme/webshop/issues?state=all&since=2025-01-01T12:00:01Z")
		var items []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&items)
		// Issues 3 and 4 were updated at 12:00:01.0 and 12:00:01.5, both
		// reported as 12:00:01; issue 5 and the PR at 12:00:02.
		if len(items) != 4 {
			t.Errorf("%d items since 12:00:01, want 4 (pull request included)", len(items))
		}
	})
	t.Run("pages are linked and a matching ETag is a free 304", func(t *testing.T) {
		resp := get(t, s, "repos/acme/webshop/issues?state=all&per_page=2")
		if !strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
			t.Fatalf("Link %q has no next page", resp.Header.Get("Link"))
		}
		before := s.Stats().Counted
		again := get(t, s, "repos/acme/webshop/issues?state=all&per_page=2", "If-None-Match", resp.Header.Get("ETag"))
		if again.StatusCode != http.StatusNotModified || s.Stats().Counted != before {
			t.Errorf("status %d, %d counted; want 304 and nothing counted", again.StatusCode, s.Stats().Counted-before)
		}
	})
	t.Run("a bad token is refused and not counted", func(t *testing.T) {
		before := s.Stats().Counted
		req, _ := http.NewRequest(http.MethodGet, s.URL+"user", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || s.Stats().Counted != before {
			t.Errorf("status %d, counted %d", resp.StatusCode, s.Stats().Counted-before)
		}
	})
	t.Run("search does not see issues younger than the index lag", func(t *testing.T) {
		lag := New(Options{Now: func() time.Time { return t0 }, SearchLag: time.Minute})
		defer lag.Close()
		lag.AddIssue(Issue{Title: "x", Body: "find me"})
		count := func() float64 {
			var res map[string]any
			_ = json.NewDecoder(get(t, lag, `search/issues?q=repo:acme/webshop+"find+me"`).Body).Decode(&res)
			return res["total_count"].(float64)
		}
		if n := count(); n != 0 {
			t.Errorf("found %v issues created a moment ago", n)
		}
		lag.Advance(2 * time.Minute)
		if n := count(); n != 1 {
			t.Errorf("found %v issues two minutes later, want 1", n)
		}
	})
}

func TestWebhookDeliveries(t *testing.T) {
	type got struct {
		event, delivery, sig string
		body                 []byte
	}
	var mu sync.Mutex
	var received []got
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery"), r.Header.Get("X-Hub-Signature-256"), b})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	s := New(Options{})
	defer s.Close()
	s.AddIssue(Issue{Title: "before the hook"}) // no receiver yet: nothing sent
	s.SetWebhook(recv.URL, "s3cret")

	n := s.AddIssue(Issue{Title: "Bug", User: "carol"})
	s.Edit(n, func(is *Issue) { is.Title, is.Labels = "Bug, renamed", []string{"bug"} })
	s.AddComment(n, "carol", "hello")
	s.Edit(n, func(is *Issue) { is.Parent = 1 })
	s.DropNextDeliveries(1)
	s.Delete(n)
	s.WaitDeliveries()

	ds := s.Deliveries()
	var names []string
	for _, d := range ds {
		names = append(names, d.Event+"."+d.Action)
	}
	want := []string{"issues.opened", "issues.edited", "issues.labeled", "issue_comment.created", "sub_issues.sub_issue_added", "issues.deleted"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("deliveries %q, want %q", names, want)
	}
	t.Run("each is posted once, in order, signed with the secret, and a lost one is not posted", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		if len(received) != len(want)-1 || !ds[len(ds)-1].Lost {
			t.Fatalf("received %d, want %d (the last one lost)", len(received), len(want)-1)
		}
		for i, r := range received {
			if r.delivery != ds[i].ID || r.event != ds[i].Event || r.sig != connectors.SignSHA256("s3cret", r.body) || ds[i].Status != http.StatusAccepted {
				t.Errorf("delivery %d: %+v vs %+v", i, r, ds[i])
			}
			var p struct {
				Action     string `json:"action"`
				Repository struct {
					FullName string `json:"full_name"`
				} `json:"repository"`
			}
			if json.Unmarshal(r.body, &p) != nil || p.Action != ds[i].Action || p.Repository.FullName != "acme/webshop" {
				t.Errorf("delivery %d payload %s", i, r.body)
			}
		}
	})
	t.Run("a redelivery keeps the GUID", func(t *testing.T) {
		code, err := s.Redeliver(ds[0].ID)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || code != http.StatusAccepted || received[len(received)-1].delivery != ds[0].ID {
			t.Errorf("redelivery: %d, %v, %+v", code, err, received[len(received)-1])
		}
	})
}

func TestParentIssueURL(t *testing.T) {
	for _, noURL := range []bool{false, true} {
		s := New(Options{NoParentURL: noURL})
		p := s.AddIssue(Issue{Title: "Epic"})
		c := s.AddIssue(Issue{Title: "Story", Parent: p})
		var child, parent map[string]any
		_ = json.NewDecoder(get(t, s, "repos/acme/webshop/issues/"+strconv.Itoa(c)).Body).Decode(&child)
		_ = json.NewDecoder(get(t, s, "repos/acme/webshop/issues/"+strconv.Itoa(p)).Body).Decode(&parent)
		url, has := child["parent_issue_url"]
		none, hasNone := parent["parent_issue_url"]
		switch {
		case noURL && (has || hasNone):
			t.Errorf("NoParentURL: the field is present: %v, %v", url, none)
		case !noURL && (url != s.URL+"repos/acme/webshop/issues/1" || !hasNone || none != nil):
			t.Errorf("parent_issue_url of the child %v, of the parent %v (present %v)", url, none, hasNone)
		}
		s.Close()
	}
}

func TestLatencyIsAddedToEveryAnswer(t *testing.T) {
	s := New(Options{Latency: 30 * time.Millisecond})
	defer s.Close()
	start := time.Now()
	get(t, s, "user")
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answered in %v, want at least the 30ms latency", d)
	}
}
