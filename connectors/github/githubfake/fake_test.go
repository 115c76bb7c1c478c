package githubfake

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
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
