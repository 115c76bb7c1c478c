package github

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

// fakeHarness runs the conformance suite against the fake. Each New
// starts a fresh fake; the hooks act on the latest one.
func fakeHarness() connectortest.Harness {
	var srv *githubfake.Server
	h := connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			var c *Connector
			c, srv = newFake(t, githubfake.Options{Collaborators: []string{"alice", "bob"}},
				func(cfg *Config) { cfg.PageSize = 3 })
			return c
		},
		Reconnect: func(t *testing.T, c connectors.Connector) connectors.Connector {
			return connectFake(t, srv, func(cfg *Config) { cfg.PageSize = 3 })
		},
		Sample:     sample,
		TitleField: FieldTitle,
		MultiField: FieldLabels,
		PageSize:   3,
		Edit: func(t *testing.T, id string, fields connectors.Fields) {
			n, err := parseNumber(id)
			if err != nil {
				t.Fatal(err)
			}
			ok := srv.Edit(n, func(is *githubfake.Issue) {
				for name, v := range fields {
					switch name {
					case FieldTitle:
						is.Title = fields.Get(name)
					case FieldBody:
						// A person edits the visible text; the hidden marker stays.
						_, m := parseBody(is.Body)
						is.Body = appendMarker(fields.Get(name), m)
					case FieldLabels:
						is.Labels = slices.Sorted(slices.Values(v))
					case FieldAssignees:
						is.Assignees = slices.Clone(v)
					case FieldState:
						is.State = fields.Get(name)
					default:
						t.Fatalf("the fake's Edit hook does not know field %q", name)
					}
				}
			})
			if !ok {
				t.Fatalf("edit #%s: no such issue", id)
			}
		},
		Delete: func(t *testing.T, id string) {
			n, err := parseNumber(id)
			if err != nil {
				t.Fatal(err)
			}
			srv.Delete(n)
		},
		RateLimitNext:        func(t *testing.T, d time.Duration) { srv.RateLimitNext(d) },
		RejectNext:           func(t *testing.T) { srv.RejectNext() },
		CrashAfterNextCreate: func(t *testing.T) { srv.CrashAfterNextCreate() },
		// GitHub's since has one-second resolution: move the fake's clock
		// instead of sleeping.
		Settle: func() { srv.Advance(time.Second) },
	}
	return h
}

func sample(i int) connectors.Fields {
	f := connectors.Fields{}
	f.Set(FieldTitle, fmt.Sprintf("Conformance record %d", i))
	f.Set(FieldBody, fmt.Sprintf("Body of record %d with *Markdown*.", i))
	f.Set(FieldLabels, "conformance", "n-"+strconv.Itoa(i))
	return f
}

// TestConformanceHarness exercises the harness hooks against the
// connector, so the fake behaves as the suite expects.
func TestConformanceHarness(t *testing.T) {
	ctx := context.Background()
	h := fakeHarness()
	c := h.New(t)
	var ids []string
	for i := 0; i < 2*h.PageSize+1; i++ {
		r, err := c.Create(ctx, "BL-"+strconv.Itoa(i), h.Sample(i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	got, cursor := drain(t, c.(*Connector), "")
	if slices.Sort(got); !slices.Equal(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
	h.Settle()
	edit := connectors.Fields{}
	edit.Set(FieldTitle, "Edited by a person")
	h.Edit(t, ids[2], edit)
	if got, _ := drain(t, c.(*Connector), cursor); !slices.Equal(got, ids[2:3]) {
		t.Errorf("after an edit: %v", got)
	}
	if r, _ := c.Get(ctx, ids[2]); r.Marker != "BL-2" {
		t.Errorf("a person's edit lost the marker: %+v", r)
	}
	h.Delete(t, ids[0])
	if _, err := c.Get(ctx, ids[0]); !errors.Is(err, connectors.ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	h.RejectNext(t)
	if _, err := c.Get(ctx, ids[1]); !connectors.IsTerminal(err) {
		t.Errorf("rejected: %v", err)
	}
	h.RateLimitNext(t, time.Hour)
	if _, err := c.Get(ctx, ids[1]); err == nil {
		t.Error("a rate limit of an hour went unnoticed")
	} else if d, _ := connectors.RetryAfter(err); d < 59*time.Minute {
		t.Errorf("rate limited for %v, want an hour", d)
	}
}

// TestLiveConformance runs the suite against a real repository. It needs
// a throwaway repository: the suite creates and closes issues there.
func TestLiveConformance(t *testing.T) {
	token, repo := os.Getenv("GITHUB_TOKEN"), os.Getenv("BACKLOGD_GITHUB_TEST_REPO")
	if token == "" || repo == "" {
		t.Skip("set GITHUB_TOKEN and BACKLOGD_GITHUB_TEST_REPO=owner/repo (and GITHUB_API_URL for Enterprise Server) to run the conformance suite against a real repository")
	}
	owner, name, ok := strings.Cut(repo, "/")
	if !ok {
		t.Fatalf("BACKLOGD_GITHUB_TEST_REPO=%q: want owner/repo", repo)
	}
	h := connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			c, err := New(Config{
				Settings: Settings{Owner: owner, Repo: name, Token: "env:GITHUB_TOKEN", BaseURL: os.Getenv("GITHUB_API_URL"), PageSize: 3},
				Target:   "live-github",
				Token:    connectors.NewSecret(token),
				MaxWait:  5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		Reconnect: func(t *testing.T, c connectors.Connector) connectors.Connector {
			again, err := New(c.(*Connector).cfg)
			if err != nil {
				t.Fatal(err)
			}
			return again
		},
		Sample:     sample,
		TitleField: FieldTitle,
		MultiField: FieldLabels,
		PageSize:   3,
		// GitHub's REST API cannot delete issues and offers no way to
		// provoke limits or crashes on demand: those subtests skip.
		Settle: func() { time.Sleep(1100 * time.Millisecond) },
	}
	runSuite(t, h)
}
