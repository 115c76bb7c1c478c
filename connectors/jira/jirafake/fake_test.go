package jirafake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// client sends authenticated requests to a fake.
type client struct {
	t   *testing.T
	srv *Server
}

func (c client) do(method, path string, body string) (int, map[string]any, http.Header) {
	c.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.srv.URL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.srv.Options().Flavor == Cloud {
		req.SetBasicAuth(BotEmail, APIToken)
	} else {
		req.Header.Set("Authorization", "Bearer "+PAT)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out, resp.Header
}

func start(t *testing.T, o Options) (client, *Server) {
	srv := New(o)
	t.Cleanup(srv.Close)
	return client{t: t, srv: srv}, srv
}

func TestCloudSearch(t *testing.T) {
	c, srv := start(t, Options{Flavor: Cloud})
	for i := 0; i < 5; i++ {
		srv.AddIssue(Issue{Summary: "issue"})
	}
	t.Run("the removed search endpoints answer 410 Gone", func(t *testing.T) {
		for _, p := range []string{"/rest/api/2/search?jql=", "/rest/api/3/search?jql="} {
			if st, body, _ := c.do(http.MethodGet, p, ""); st != http.StatusGone || !strings.Contains(body["errorMessages"].([]any)[0].(string), "CHANGE-2046") {
				t.Errorf("GET %s: %d %v", p, st, body)
			}
		}
	})
	t.Run("search/jql pages with nextPageToken, says isLast and has no total", func(t *testing.T) {
		q := url.Values{"jql": {"project = ACME ORDER BY key ASC"}, "maxResults": {"2"}, "fields": {"summary"}}
		seen, pages := 0, 0
		for {
			st, body, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?"+q.Encode(), "")
			if st != http.StatusOK {
				t.Fatalf("%d %v", st, body)
			}
			if _, has := body["total"]; has {
				t.Error("the page has a total")
			}
			pages++
			seen += len(body["issues"].([]any))
			if body["isLast"] == true {
				break
			}
			q.Set("nextPageToken", body["nextPageToken"].(string))
		}
		if seen != 5 || pages != 3 {
			t.Errorf("%d issues in %d pages", seen, pages)
		}
	})
	t.Run("a token reused with another query is refused", func(t *testing.T) {
		q := url.Values{"jql": {"project = ACME"}, "maxResults": {"2"}}
		_, body, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?"+q.Encode(), "")
		q.Set("jql", "project = ACME AND labels = x")
		q.Set("nextPageToken", body["nextPageToken"].(string))
		if st, _, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?"+q.Encode(), ""); st != http.StatusBadRequest {
			t.Errorf("status %d", st)
		}
	})
	t.Run("without fields only ids come back", func(t *testing.T) {
		_, body, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?jql=project%3DACME", "")
		is := body["issues"].([]any)[0].(map[string]any)
		if f := is["fields"].(map[string]any); len(f) != 0 {
			t.Errorf("fields %v", f)
		}
	})
}

func TestDataCenterSearchPagesWithStartAtAndTotal(t *testing.T) {
	c, srv := start(t, Options{Flavor: DataCenter})
	for i := 0; i < 3; i++ {
		srv.AddIssue(Issue{Summary: "issue"})
	}
	st, body, _ := c.do(http.MethodGet, "/rest/api/2/search?jql=project%3DACME&startAt=2&maxResults=2", "")
	if st != http.StatusOK || body["total"] != 3.0 || len(body["issues"].([]any)) != 1 {
		t.Errorf("%d %v", st, body)
	}
	if st, _, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?jql=", ""); st != http.StatusNotFound {
		t.Errorf("Data Center has no v3: %d", st)
	}
}

func TestSearchIndexLags(t *testing.T) {
	c, srv := start(t, Options{Flavor: Cloud, IndexLag: 1})
	key := srv.AddIssue(Issue{Summary: "new"})
	search := func() int {
		_, body, _ := c.do(http.MethodGet, "/rest/api/3/search/jql?jql=project%3DACME", "")
		return len(body["issues"].([]any))
	}
	if n := search(); n != 0 {
		t.Errorf("the first search after a create sees %d issues; the index lags one search", n)
	}
	if st, _, _ := c.do(http.MethodGet, "/rest/api/3/issue/"+key, ""); st != http.StatusOK {
		t.Errorf("a read by key is consistent: %d", st)
	}
	if n := search(); n != 1 {
		t.Errorf("the second search sees %d issues", n)
	}
}

func TestJQLDatesAreMinutesInTheUsersZone(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 20, 0, time.UTC) // 10:30 in Paris
	c, srv := start(t, Options{Flavor: DataCenter, Now: func() time.Time { return at }})
	srv.AddIssue(Issue{Summary: "x"})
	count := func(jql string) int {
		st, body, _ := c.do(http.MethodGet, "/rest/api/2/search?jql="+url.QueryEscape(jql), "")
		if st != http.StatusOK {
			t.Fatalf("%s: %d %v", jql, st, body)
		}
		return len(body["issues"].([]any))
	}
	if n := count(`updated >= "2026-03-01 10:30"`); n != 1 {
		t.Errorf("10:30 Paris: %d", n)
	}
	if n := count(`updated >= "2026-03-01 10:31"`); n != 0 {
		t.Errorf("10:31 Paris: %d", n)
	}
	if n := count(`issue.property[backlogd].id = "BL-1"`); n != 0 {
		t.Errorf("an unindexed property search found %d", n)
	}
	if st, _, _ := c.do(http.MethodGet, "/rest/api/2/search?jql="+url.QueryEscape("nosuchfield = 1"), ""); st != http.StatusBadRequest {
		t.Errorf("an unknown field: %d", st)
	}
}

func TestWorkflow(t *testing.T) {
	c, srv := start(t, Options{Flavor: DataCenter})
	key := srv.AddIssue(Issue{Summary: "x"})
	_, body, _ := c.do(http.MethodGet, "/rest/api/2/issue/"+key+"/transitions?expand=transitions.fields", "")
	var names []string
	for _, tr := range body["transitions"].([]any) {
		names = append(names, tr.(map[string]any)["name"].(string))
	}
	if strings.Join(names, ",") != "Start progress,Won't do" {
		t.Errorf("from Backlog: %v", names)
	}
	if st, body, _ := c.do(http.MethodPost, "/rest/api/2/issue/"+key+"/transitions", `{"transition":{"id":"41"}}`); st != http.StatusBadRequest {
		t.Errorf("a transition the status does not offer: %d %v", st, body)
	}
	if st, body, _ := c.do(http.MethodPost, "/rest/api/2/issue/"+key+"/transitions", `{"transition":{"id":"71"},"fields":{"resolution":{"name":"Won't Do"}}}`); st != http.StatusBadRequest || !strings.Contains(body["errors"].(map[string]any)["comment"].(string), "required") {
		t.Errorf("a missing required comment: %d %v", st, body)
	}
	if st, _, _ := c.do(http.MethodPost, "/rest/api/2/issue/"+key+"/transitions", `{"transition":{"id":"71"},"fields":{"resolution":{"name":"Won't Do"}},"update":{"comment":[{"add":{"body":"no"}}]}}`); st != http.StatusNoContent {
		t.Errorf("a complete transition: %d", st)
	}
	if is, _ := srv.Issue(key); is.Status != "Won't Do" || is.Resolution != "Won't Do" || len(is.Comments) != 1 {
		t.Errorf("after the transition: %+v", is)
	}
}

func TestCommentEditWithoutVisibilityPublishesIt(t *testing.T) {
	c, srv := start(t, Options{Flavor: DataCenter})
	key := srv.AddIssue(Issue{Summary: "x"})
	st, body, _ := c.do(http.MethodPost, "/rest/api/2/issue/"+key+"/comment", `{"body":"secret","visibility":{"type":"role","value":"Administrators"}}`)
	if st != http.StatusCreated {
		t.Fatalf("%d %v", st, body)
	}
	id := body["id"].(string)
	c.do(http.MethodPut, "/rest/api/2/issue/"+key+"/comment/"+id, `{"body":"edited"}`)
	if is, _ := srv.Issue(key); is.Comments[0].Visibility != nil {
		t.Errorf("the edit kept visibility %+v; Jira replaces it", is.Comments[0].Visibility)
	}
	if st, _, _ := c.do(http.MethodPost, "/rest/api/2/issue/"+key+"/comment", `{"body":"x","visibility":{"type":"role","value":"Nobody"}}`); st != http.StatusBadRequest {
		t.Errorf("an unknown role: %d", st)
	}
}

func TestCloudRefusesInvalidADF(t *testing.T) {
	c, _ := start(t, Options{Flavor: Cloud})
	create := func(desc string) int {
		st, _, _ := c.do(http.MethodPost, "/rest/api/3/issue", `{"fields":{"project":{"key":"ACME"},"issuetype":{"name":"Task"},"summary":"s","description":`+desc+`}}`)
		return st
	}
	for name, doc := range map[string]string{
		"wiki text instead of ADF":      `"h1. wiki"`,
		"code combined with strong":     `{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"code"},{"type":"strong"}]}]}]}`,
		"a list item without paragraph": `{"type":"doc","version":1,"content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"bulletList","content":[{"type":"listItem","content":[{"type":"paragraph"}]}]}]}]}]}`,
		"a heading in a quote":          `{"type":"doc","version":1,"content":[{"type":"blockquote","content":[{"type":"heading","attrs":{"level":1}}]}]}`,
	} {
		if st := create(doc); st != http.StatusBadRequest {
			t.Errorf("%s: %d", name, st)
		}
	}
	if st := create(`{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"ok"}]}]}`); st != http.StatusCreated {
		t.Errorf("a valid document: %d", st)
	}
	if st, _, _ := c.do(http.MethodGet, "/rest/api/2/issue/ACME-1", ""); st != http.StatusBadRequest {
		t.Errorf("an issue body over v2 on Cloud: %d", st)
	}
}

func TestHooks(t *testing.T) {
	c, srv := start(t, Options{Flavor: Cloud})
	srv.RateLimitNext(30*time.Second, "jira-burst-based")
	st, _, h := c.do(http.MethodGet, "/rest/api/2/myself", "")
	if st != http.StatusTooManyRequests || h.Get("Retry-After") != "30" || h.Get("RateLimit-Reason") != "jira-burst-based" || h.Get("X-RateLimit-Reset") == "" {
		t.Errorf("429: %d %v", st, h)
	}
	srv.RejectNext()
	if st, _, _ := c.do(http.MethodGet, "/rest/api/2/myself", ""); st != http.StatusUnauthorized {
		t.Errorf("401: %d", st)
	}
	key := srv.AddIssue(Issue{Summary: "x"})
	srv.Delete(key)
	if st, _, _ := c.do(http.MethodGet, "/rest/api/3/issue/"+key, ""); st != http.StatusNotFound {
		t.Errorf("deleted: %d", st)
	}
	if got := srv.Stats().ByClass; got["meta"] != 2 || got["get_issue"] != 1 {
		t.Errorf("counted %v", got)
	}
}

func TestCustomFieldIDsDifferFromNames(t *testing.T) {
	for _, fl := range []Flavor{Cloud, DataCenter} {
		c, _ := start(t, Options{Flavor: fl})
		req, _ := http.NewRequest(http.MethodGet, c.srv.URL+"/rest/api/2/field", nil)
		req.SetBasicAuth(BotEmail, APIToken)
		req.Header.Set("Authorization", map[Flavor]string{Cloud: req.Header.Get("Authorization"), DataCenter: "Bearer " + PAT}[fl])
		resp, err := c.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var fs []map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&fs)
		resp.Body.Close()
		want := map[Flavor]string{Cloud: StoryPointsCloud, DataCenter: StoryPointsDC}[fl]
		found := false
		for _, f := range fs {
			if f["name"] == "Story Points" {
				found = f["id"] == want
			}
		}
		if !found {
			t.Errorf("%s: Story Points is not %s", fl, want)
		}
	}
}
