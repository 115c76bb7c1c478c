package redminefake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

type client struct {
	t   *testing.T
	srv *Server
}

func (c client) do(method, path, body string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, c.srv.URL+path, rd)
	req.Header.Set("X-Redmine-API-Key", c.srv.APIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c client) ids(path string) []int {
	c.t.Helper()
	_, body := c.do(http.MethodGet, path, "")
	var l struct {
		Issues []struct{ ID int } `json:"issues"`
	}
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		c.t.Fatalf("%s: %v: %s", path, err, body)
	}
	var out []int
	for _, is := range l.Issues {
		out = append(out, is.ID)
	}
	return out
}

func TestAwkwardParts(t *testing.T) {
	srv := New()
	defer srv.Close()
	c := client{t, srv}
	resp, body := c.do(http.MethodPost, "/issues.json", `{"issue":{"project_id":"sync-test","subject":"a","status_id":5,"description":"x\ny"}}`)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	t.Run("create ignores status_id", func(t *testing.T) {
		if !strings.Contains(body, `"status":{"id":1,"is_closed":false,"name":"New"}`) {
			t.Errorf("created %s", body)
		}
	})
	t.Run("descriptions are stored with CRLF", func(t *testing.T) {
		if !strings.Contains(body, `"description":"x\r\ny"`) {
			t.Errorf("created %s", body)
		}
	})
	t.Run("a PUT that changes nothing answers 204 and still bumps updated_on", func(t *testing.T) {
		before, _ := srv.Issue(1)
		srv.Advance(2 * time.Second)
		resp, body := c.do(http.MethodPut, "/issues/1.json", `{"issue":{}}`)
		after, _ := srv.Issue(1)
		if resp.StatusCode != http.StatusNoContent || body != "" || !after.UpdatedOn.After(before.UpdatedOn) {
			t.Errorf("%d %q, updated %v -> %v", resp.StatusCode, body, before.UpdatedOn, after.UpdatedOn)
		}
	})
	t.Run("validation errors are a 422 list", func(t *testing.T) {
		resp, body := c.do(http.MethodPut, "/issues/1.json", `{"issue":{"subject":""}}`)
		if resp.StatusCode != http.StatusUnprocessableEntity || body != `{"errors":["Subject cannot be blank"]}` {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("a blank priority is refused, a blank tracker or status ignored", func(t *testing.T) {
		resp, body := c.do(http.MethodPut, "/issues/1.json", `{"issue":{"priority_id":""}}`)
		if resp.StatusCode != http.StatusUnprocessableEntity || body != `{"errors":["Priority cannot be blank"]}` {
			t.Errorf("priority: %d %s", resp.StatusCode, body)
		}
		resp, body = c.do(http.MethodPut, "/issues/1.json", `{"issue":{"tracker_id":"","status_id":""}}`)
		is, _ := srv.Issue(1)
		if resp.StatusCode != http.StatusNoContent || is.TrackerID != 1 || is.StatusID != 1 {
			t.Errorf("tracker and status: %d %s; now %d and %d", resp.StatusCode, body, is.TrackerID, is.StatusID)
		}
	})
	t.Run("a stale lock_version is a 422 with an empty list", func(t *testing.T) {
		resp, body := c.do(http.MethodPut, "/issues/1.json", `{"issue":{"lock_version":0,"subject":"b"}}`)
		if resp.StatusCode != http.StatusUnprocessableEntity || body != `{"errors":[]}` {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
	t.Run("404 and malformed JSON have empty bodies", func(t *testing.T) {
		if resp, body := c.do(http.MethodGet, "/issues/99.json", ""); resp.StatusCode != 404 || body != "" {
			t.Errorf("404: %d %q", resp.StatusCode, body)
		}
		if resp, body := c.do(http.MethodPut, "/issues/1.json", `{"issue":`); resp.StatusCode != 400 || body != "" {
			t.Errorf("400: %d %q", resp.StatusCode, body)
		}
	})
	t.Run("a missing key is a 401 with WWW-Authenticate", func(t *testing.T) {
		resp, _ := http.Get(srv.URL + "/issues.json")
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%d %v", resp.StatusCode, resp.Header)
		}
	})
	t.Run("a matching If-None-Match gets 304", func(t *testing.T) {
		resp, _ := c.do(http.MethodGet, "/issues/1.json", "")
		et := resp.Header.Get("ETag")
		if !strings.HasPrefix(et, `W/"`) {
			t.Fatalf("etag %q", et)
		}
		if resp, _ := c.do(http.MethodGet, "/issues/1.json", "", "If-None-Match", et); resp.StatusCode != http.StatusNotModified {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("closed issues are listed only with status_id=*", func(t *testing.T) {
		c.do(http.MethodPut, "/issues/1.json", `{"issue":{"status_id":5}}`)
		if got := c.ids("/issues.json?project_id=sync-test"); len(got) != 0 {
			t.Errorf("default listing: %v", got)
		}
		if got := c.ids("/issues.json?project_id=sync-test&status_id=*"); len(got) != 1 {
			t.Errorf("status_id=*: %v", got)
		}
	})
	t.Run("updated_on>=T lists the second before T too", func(t *testing.T) {
		is, _ := srv.Issue(1)
		shown := is.UpdatedOn.Truncate(time.Second)
		next := shown.Add(time.Second).Format(time.RFC3339)
		got := c.ids("/issues.json?status_id=*&updated_on=%3E%3D" + next)
		if is.UpdatedOn.Equal(shown) {
			t.Skip("the issue was saved on a whole second")
		}
		if len(got) != 1 {
			t.Errorf(">=%s (issue at %s): %v", next, is.UpdatedOn.Format(time.RFC3339Nano), got)
		}
		if got := c.ids("/issues.json?status_id=*&updated_on=%3E%3D" + shown.Add(2*time.Second).Format(time.RFC3339)); len(got) != 0 {
			t.Errorf("two seconds later: %v", got)
		}
	})
	t.Run("cf_N filters exactly", func(t *testing.T) {
		c.do(http.MethodPost, "/issues.json", `{"issue":{"project_id":1,"subject":"m","custom_fields":[{"id":1,"value":"BL-42"}]}}`)
		c.do(http.MethodPost, "/issues.json", `{"issue":{"project_id":1,"subject":"n","custom_fields":[{"id":1,"value":"BL-420"}]}}`)
		if got := c.ids("/issues.json?status_id=*&cf_1=BL-42"); len(got) != 1 {
			t.Errorf("cf_1=BL-42: %v", got)
		}
	})
	t.Run("offset and limit page with total_count", func(t *testing.T) {
		_, body := c.do(http.MethodGet, "/issues.json?status_id=*&limit=2&offset=2&sort=id", "")
		if !strings.Contains(body, `"total_count":3`) || !strings.Contains(body, `"offset":2`) || strings.Count(body, `"subject"`) != 1 {
			t.Errorf("page: %s", body)
		}
	})
	t.Run("emptying a note without field changes deletes its journal", func(t *testing.T) {
		c.do(http.MethodPut, "/issues/2.json", `{"issue":{"notes":"secret","private_notes":true}}`)
		is, _ := srv.Issue(2)
		if len(is.Journals) != 1 || !is.Journals[0].Private {
			t.Fatalf("journals %+v", is.Journals)
		}
		resp, _ := c.do(http.MethodPut, "/journals/"+strconv.Itoa(is.Journals[0].ID)+".json", `{"journal":{"notes":""}}`)
		is, _ = srv.Issue(2)
		if resp.StatusCode != http.StatusNoContent || len(is.Journals) != 0 {
			t.Errorf("%d, journals %+v", resp.StatusCode, is.Journals)
		}
	})
	t.Run("a crash after create stores the issue and drops the answer", func(t *testing.T) {
		srv.CrashAfterNextCreate()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/issues.json", strings.NewReader(`{"issue":{"project_id":1,"subject":"lost"}}`))
		req.Header.Set("X-Redmine-API-Key", srv.APIKey)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("the answer arrived")
		}
		if _, ok := srv.Issue(4); !ok {
			t.Error("the issue was not stored")
		}
	})
}
