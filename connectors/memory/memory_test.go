package memory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/connectortest"
	"gopkg.in/yaml.v3"
)

// harness runs the conformance suite on trackers made with o; the hooks
// act on the latest one.
func harness(o Options) connectortest.Harness {
	var tr *Tracker
	return connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			tr = New(o)
			return tr
		},
		// The tracker is the connector's whole state: a connector that
		// remembers nothing else is the tracker itself.
		Reconnect:  func(t *testing.T, c connectors.Connector) connectors.Connector { return c },
		Sample:     sample,
		TitleField: "title",
		MultiField: "labels",
		PageSize:   o.PageSize,
		Edit: func(t *testing.T, id string, f connectors.Fields) {
			if !tr.Edit(id, f) {
				t.Fatalf("edit %s: no such record", id)
			}
		},
		Delete:               func(t *testing.T, id string) { tr.Delete(id) },
		RateLimitNext:        func(t *testing.T, d time.Duration) { tr.RateLimitNext(1, d) },
		RejectNext:           func(t *testing.T) { tr.RejectNext(1) },
		CrashAfterNextCreate: func(t *testing.T) { tr.CrashAfterNextCreate() },
	}
}

func sample(i int) connectors.Fields {
	f := connectors.Fields{}
	f.Set("title", fmt.Sprintf("Record %d", i))
	f.Set("body", fmt.Sprintf("Body of record %d\nwith *Markdown*.", i))
	f.Set("labels", "n-"+strconv.Itoa(i), "conformance")
	f.Set("status", []string{"todo", "doing", "done"}[i%3])
	return f
}

// declared is a field list like a strict tracker's.
var declared = []connectors.FieldSpec{
	{Name: "title"},
	{Name: "body"},
	{Name: "labels", Multi: true},
	{Name: "status", Values: []string{"todo", "doing", "done"}},
	{Name: "teams", Multi: true, Values: []string{"backend", "frontend", "qa"}},
	{Name: "reporter", ReadOnly: true},
}

func TestConformance(t *testing.T) {
	t.Run("free-form fields", func(t *testing.T) {
		connectortest.Run(t, harness(Options{PageSize: 3}))
	})
	t.Run("declared fields, public comments only, webhooks", func(t *testing.T) {
		connectortest.Run(t, harness(Options{PageSize: 4, Fields: declared, NoInternalComments: true, WebhookSecret: "s3cret"}))
	})
}

func create(t *testing.T, tr *Tracker, marker string, kv ...string) connectors.Record {
	t.Helper()
	f := connectors.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = append(f[kv[i]], kv[i+1])
	}
	r, err := tr.Create(context.Background(), marker, f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReadsNeverShareTheTrackersState(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{})
	in := connectors.Fields{"title": {"Original"}, "labels": {"a", "b"}, "teams": {"x"}}
	r, err := tr.Create(ctx, "BL-1", in)
	if err != nil {
		t.Fatal(err)
	}
	in["title"][0] = "changed by the caller after Create"
	if _, err := tr.CreateComment(ctx, r.ID, connectors.Comment{Body: "note"}); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.Get(ctx, r.ID)
	// Values of one record share a backing array: appending to one field
	// must not write into the next.
	for _, name := range got.Fields.Names() {
		_ = append(got.Fields[name], "appended")
	}
	for _, name := range []string{"labels", "teams", "title"} {
		if first := got.Fields[name][0]; first == "appended" {
			t.Errorf("appending to another field overwrote %s", name)
		}
	}
	if got.Fields["labels"][1] != "b" {
		t.Errorf("appending to another field overwrote labels: %q", got.Fields["labels"])
	}
	got.Fields["title"][0] = "scribbled"
	got.Comments[0].Body = "scribbled"
	delete(got.Fields, "teams")
	page, _ := tr.Changes(ctx, "")
	page.Records[0].Fields["title"][0] = "scribbled from a listing"

	again, _ := tr.Get(ctx, r.ID)
	want := connectors.Fields{"title": {"Original"}, "labels": {"a", "b"}, "teams": {"x"}}
	for _, name := range want.Names() {
		if !slices.Equal(again.Fields[name], want[name]) {
			t.Errorf("%s = %q, want %q: a caller changed the tracker's state", name, again.Fields[name], want[name])
		}
	}
	if again.Comments[0].Body != "note" {
		t.Errorf("comment = %q: a caller changed the tracker's state", again.Comments[0].Body)
	}
}

func TestWritesThatChangeNothingMoveNothing(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{})
	r := create(t, tr, "BL-1", "title", "Same", "labels", "a")
	_, cursor := drainIDs(t, tr, "")
	same, err := tr.Update(ctx, r.ID, r.Version, connectors.Fields{"title": {"Same"}, "labels": {"a"}, "unset": nil}, "")
	if err != nil {
		t.Fatal(err)
	}
	if same.Version != r.Version || !same.Updated.Equal(r.Updated) {
		t.Errorf("an Update of unchanged values moved the version %s → %s", r.Version, same.Version)
	}
	marked, err := tr.Update(ctx, r.ID, r.Version, nil, "BL-1")
	if err != nil {
		t.Fatal(err)
	}
	if marked.Version != r.Version {
		t.Errorf("an Update of the marker the record carries moved the version %s → %s", r.Version, marked.Version)
	}
	if ids, _ := drainIDs(t, tr, cursor); len(ids) != 0 {
		t.Errorf("writes that changed nothing are listed as changes: %v", ids)
	}
	if _, err := tr.Update(ctx, r.ID, r.Version, connectors.Fields{"labels": nil}, ""); err != nil {
		t.Fatal(err)
	}
	got, _ := tr.Get(ctx, r.ID)
	if _, ok := got.Fields["labels"]; ok || got.Version == r.Version {
		t.Errorf("clearing labels: fields %v, version %s (was %s)", got.Fields, got.Version, r.Version)
	}
}

func TestAStaleVersionIsAConflict(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{})
	r := create(t, tr, "BL-1", "title", "One")
	tr.Edit(r.ID, connectors.Fields{"title": {"A person's edit"}})
	_, err := tr.Update(ctx, r.ID, r.Version, connectors.Fields{"title": {"Ours"}}, "")
	if !errors.Is(err, connectors.ErrConflict) {
		t.Fatalf("Update with the version from before a person's edit: %v; want ErrConflict", err)
	}
	if got, _ := tr.Peek(r.ID); got.Fields.Get("title") != "A person's edit" {
		t.Errorf("a refused update wrote %q", got.Fields.Get("title"))
	}
}

func TestTimesComeFromTheInjectedClock(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := New(Options{Now: func() time.Time { return now }})
	r := create(t, tr, "BL-1", "title", "One")
	if !r.Created.Equal(now) || !r.Updated.Equal(now) {
		t.Errorf("created %v, updated %v; want %v", r.Created, r.Updated, now)
	}
	now = now.Add(time.Hour)
	tr.Edit(r.ID, connectors.Fields{"title": {"Two"}})
	got, _ := tr.Peek(r.ID)
	if !got.Updated.Equal(now) || !got.Created.Equal(r.Created) || got.Version == r.Version {
		t.Errorf("after an edit an hour later: created %v, updated %v, version %s (was %s)", got.Created, got.Updated, got.Version, r.Version)
	}
}

func TestACursorFromAnotherTrackerListsFromTheBeginning(t *testing.T) {
	old := New(Options{})
	for i := range 5 {
		create(t, old, "BL-"+strconv.Itoa(i), "title", "x")
	}
	_, cursor := drainIDs(t, old, "")
	// The daemon restarted: the store kept the cursor, the tracker is new.
	fresh := New(Options{})
	r := create(t, fresh, "BL-1", "title", "After the restart")
	for _, c := range []string{cursor, "garbage", "m1:x:y", "m1:" + fresh.epoch + ":999999"} {
		if ids, _ := drainIDs(t, fresh, c); !slices.Equal(ids, []string{r.ID}) {
			t.Errorf("listing from cursor %q: %v, want [%s]", c, ids, r.ID)
		}
	}
}

func TestDeclaredFieldsAreCheckedLikeAStrictTracker(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{Fields: declared})
	r := create(t, tr, "BL-1", "title", "One", "status", "todo")
	tests := []struct {
		name   string
		fields connectors.Fields
		want   string
	}{
		{"an undeclared field", connectors.Fields{"colour": {"red"}}, `"colour" is not a field`},
		{"a read-only field", connectors.Fields{"reporter": {"alice"}}, `"reporter" is read-only`},
		{"two values in a single-valued field", connectors.Fields{"title": {"a", "b"}}, `"title" takes one value, got 2`},
		{"a value outside the field's list", connectors.Fields{"status": {"blocked"}}, `"status" does not accept "blocked"`},
		{"one bad value among good ones", connectors.Fields{"teams": {"qa", "ops"}}, `"teams" does not accept "ops"`},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := tr.Update(ctx, r.ID, "", tt.fields, "")
			if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Update(%v): %v; want a terminal error saying %s", tt.fields, err, tt.want)
			}
			if _, err := tr.Create(ctx, "BL-x", tt.fields); !connectors.IsTerminal(err) {
				t.Errorf("Create(%v): %v; want a terminal error", tt.fields, err)
			}
		})
	}
	if got, _ := tr.Peek(r.ID); got.Version != r.Version || tr.Len() != 1 {
		t.Errorf("refused writes changed something: version %s (was %s), %d records", got.Version, r.Version, tr.Len())
	}
}

func TestInjectedFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("the next calls are rate limited, then calls work again", func(t *testing.T) {
		tr := New(Options{})
		r := create(t, tr, "BL-1", "title", "One")
		tr.RateLimitNext(2, 30*time.Second)
		for i := range 2 {
			_, err := tr.Get(ctx, r.ID)
			if d, ok := connectors.RetryAfter(err); !ok || d != 30*time.Second || !errors.Is(err, ErrInjected) {
				t.Errorf("call %d: %v; want an injected rate limit of 30s", i+1, err)
			}
		}
		if _, err := tr.Get(ctx, r.ID); err != nil {
			t.Errorf("the third call: %v", err)
		}
		if c := tr.Calls(); c.Get != 3 || c.RateLimited != 2 {
			t.Errorf("counted %d gets, %d limited; want 3 and 2", c.Get, c.RateLimited)
		}
	})
	t.Run("a rejected call is terminal", func(t *testing.T) {
		tr := New(Options{})
		tr.RejectNext(1)
		if _, err := tr.Changes(ctx, ""); !connectors.IsTerminal(err) {
			t.Errorf("Changes after RejectNext: %v", err)
		}
		if _, err := tr.Changes(ctx, ""); err != nil {
			t.Errorf("the call after: %v", err)
		}
	})
	t.Run("a create whose answer is lost has happened", func(t *testing.T) {
		tr := New(Options{})
		tr.CrashAfterNextCreate()
		_, err := tr.Create(ctx, "BL-7", connectors.Fields{"title": {"Lost answer"}})
		if err == nil || connectors.IsTerminal(err) {
			t.Fatalf("Create after CrashAfterNextCreate: %v; want a transient error", err)
		}
		if r, err := tr.FindByMarker(ctx, "BL-7"); err != nil || r.Fields.Get("title") != "Lost answer" {
			t.Errorf("FindByMarker: %+v, %v", r, err)
		}
		if _, err := tr.Create(ctx, "BL-8", connectors.Fields{"title": {"Next"}}); err != nil {
			t.Errorf("the create after: %v", err)
		}
	})
	t.Run("the error rate is repeatable for a seed", func(t *testing.T) {
		pattern := func(seed uint64) []bool {
			tr := New(Options{ErrorRate: 0.3, Seed: seed})
			var out []bool
			for range 200 {
				_, err := tr.Changes(ctx, "")
				out = append(out, errors.Is(err, ErrInjected))
			}
			if c := tr.Calls(); c.Changes != 200 || int(c.Failed) != countTrue(out) {
				t.Errorf("counted %d calls and %d failures; %d failed", c.Changes, c.Failed, countTrue(out))
			}
			return out
		}
		a, b, c := pattern(7), pattern(7), pattern(8)
		if !slices.Equal(a, b) {
			t.Error("two trackers with seed 7 failed different calls")
		}
		if slices.Equal(a, c) {
			t.Error("seeds 7 and 8 failed the same calls")
		}
		if n := countTrue(a); n < 20 || n > 100 {
			t.Errorf("%d of 200 calls failed at a rate of 0.3", n)
		}
	})
	t.Run("an item made to fail fails every call about it, and only those", func(t *testing.T) {
		tr := New(Options{})
		bad := create(t, tr, "BL-1", "title", "Bad")
		good := create(t, tr, "BL-2", "title", "Good")
		tr.FailItem("BL-1", errors.New("502 bad gateway"))
		calls := map[string]func() error{
			"get":     func() error { _, err := tr.Get(ctx, bad.ID); return err },
			"update":  func() error { _, err := tr.Update(ctx, bad.ID, "", connectors.Fields{"title": {"x"}}, ""); return err },
			"comment": func() error { _, err := tr.CreateComment(ctx, bad.ID, connectors.Comment{Body: "x"}); return err },
			"find":    func() error { _, err := tr.FindByMarker(ctx, "BL-1"); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, ErrInjected) || connectors.IsTerminal(err) || !strings.Contains(err.Error(), "502 bad gateway") {
				t.Errorf("%s of the failing item: %v; want the injected transient error", name, err)
			}
		}
		if _, err := tr.Update(ctx, good.ID, "", connectors.Fields{"title": {"Still good"}}, ""); err != nil {
			t.Errorf("update of another item: %v", err)
		}
		if _, err := tr.Changes(ctx, ""); err != nil {
			t.Errorf("a listing while one item fails: %v", err)
		}
		if c := tr.Calls(); c.Failed != int64(len(calls)) {
			t.Errorf("counted %d failed calls, want %d", c.Failed, len(calls))
		}
		tr.FailItem("BL-1", nil)
		if _, err := tr.Get(ctx, bad.ID); err != nil {
			t.Errorf("get after the item healed: %v", err)
		}
	})
	t.Run("failing writes leave reads and listings working", func(t *testing.T) {
		tr := New(Options{})
		r := create(t, tr, "BL-1", "title", "One")
		refused := connectors.ScopedTerminalf(connectors.ScopeEndpoint, "the token may not do this (HTTP 403)")
		tr.FailWrites(refused)
		if _, err := tr.Update(ctx, r.ID, "", connectors.Fields{"title": {"x"}}, ""); !errors.Is(err, ErrInjected) || !errors.Is(err, refused) {
			t.Errorf("update while writes fail: %v; want the injected refusal", err)
		}
		if _, err := tr.Create(ctx, "BL-2", connectors.Fields{"title": {"x"}}); !connectors.IsTerminal(err) {
			t.Errorf("create while writes fail: %v; want the injected refusal", err)
		}
		if _, err := tr.Get(ctx, r.ID); err != nil {
			t.Errorf("get while writes fail: %v", err)
		}
		if _, err := tr.Changes(ctx, ""); err != nil {
			t.Errorf("a listing while writes fail: %v", err)
		}
		if c := tr.Calls(); c.Rejected != 2 {
			t.Errorf("counted %d rejected calls, want 2", c.Rejected)
		}
		tr.FailWrites(nil)
		if _, err := tr.Update(ctx, r.ID, "", connectors.Fields{"title": {"x"}}, ""); err != nil {
			t.Errorf("update after writes healed: %v", err)
		}
	})
	t.Run("latency ends with the caller's context", func(t *testing.T) {
		tr := New(Options{Latency: time.Hour})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := tr.Get(cctx, "1"); !errors.Is(err, context.Canceled) {
			t.Errorf("Get with a cancelled context on a slow tracker: %v", err)
		}
	})
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func TestCallsCountEachOperation(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{})
	r := create(t, tr, "BL-1", "title", "One")
	tr.Get(ctx, r.ID)
	tr.Get(ctx, "404")
	tr.Update(ctx, r.ID, "", connectors.Fields{"title": {"Two"}}, "")
	tr.Changes(ctx, "")
	tr.FindByMarker(ctx, "BL-1")
	tr.Update(ctx, r.ID, "", nil, "BL-2")
	cm, _ := tr.CreateComment(ctx, r.ID, connectors.Comment{Body: "x"})
	tr.UpdateComment(ctx, r.ID, cm.ID, "y")
	tr.DeleteComment(ctx, r.ID, cm.ID)
	// A person's work is not the connector's: uncounted.
	tr.Edit(r.ID, connectors.Fields{"title": {"Three"}})
	tr.AddRecord("", connectors.Fields{"title": {"Filed by a client"}})
	tr.Peek(r.ID)
	want := Calls{Get: 2, Changes: 1, FindByMarker: 1, Create: 1, Update: 2, CreateComment: 1, UpdateComment: 1, DeleteComment: 1}
	if got := tr.Calls(); got != want {
		t.Errorf("calls = %+v\nwant    %+v", got, want)
	}
	if got := tr.Calls(); got.Total() != 10 || got.Reads() != 4 || got.Writes() != 6 {
		t.Errorf("total %d, reads %d, writes %d; want 10, 4, 6", got.Total(), got.Reads(), got.Writes())
	}
	tr.ResetCalls()
	if got := tr.Calls(); got != (Calls{}) {
		t.Errorf("after ResetCalls: %+v", got)
	}
}

func TestConcurrentWritersAndReadersKeepEveryChange(t *testing.T) {
	ctx := context.Background()
	tr := New(Options{PageSize: 7})
	const writers, updates = 8, 50
	ids := make([]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			r, err := tr.Create(ctx, "BL-"+strconv.Itoa(w), connectors.Fields{"title": {"0"}})
			if err != nil {
				t.Error(err)
				return
			}
			ids[w] = r.ID
			for i := 1; i <= updates; i++ {
				if _, err := tr.Update(ctx, r.ID, "", connectors.Fields{"title": {strconv.Itoa(i)}}, ""); err != nil {
					t.Error(err)
				}
				if _, err := tr.CreateComment(ctx, r.ID, connectors.Comment{Body: strconv.Itoa(i)}); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			cursor := ""
			for range updates {
				p, err := tr.Changes(ctx, cursor)
				if err != nil {
					t.Error(err)
					return
				}
				cursor = p.Cursor
			}
		})
	}
	wg.Wait()
	listed, _ := drainIDs(t, tr, "")
	for _, id := range ids {
		r, err := tr.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields.Get("title") != strconv.Itoa(updates) || len(r.Comments) != updates || r.Version != strconv.Itoa(1+2*updates) {
			t.Errorf("record %s: title %q, %d comments, version %s; want %d, %d, %d", id, r.Fields.Get("title"), len(r.Comments), r.Version, updates, updates, 1+2*updates)
		}
	}
	if slices.Sort(listed); !slices.Equal(listed, slices.Sorted(slices.Values(ids))) {
		t.Errorf("a full listing after the writes: %v, want each of %v once", listed, ids)
	}
}

func TestWebhookDeliveriesNameTheChangedRecords(t *testing.T) {
	type delivery struct {
		h    http.Header
		body []byte
	}
	var got []delivery
	tr := New(Options{WebhookSecret: "s3cret", Webhook: func(h http.Header, b []byte) { got = append(got, delivery{h, b}) }})
	r := create(t, tr, "BL-1", "title", "One")
	tr.Edit(r.ID, connectors.Fields{"title": {"Two"}})
	tr.Delete(r.ID)
	if len(got) != 3 {
		t.Fatalf("%d deliveries for a create, an edit and a delete", len(got))
	}
	var ds []connectors.Delivery
	for _, d := range got {
		pd, err := tr.ParseWebhook(d.h, d.body)
		if err != nil {
			t.Fatalf("ParseWebhook of the tracker's own delivery: %v", err)
		}
		ds = append(ds, pd)
	}
	if !slices.Equal(ds[0].RecordIDs, []string{r.ID}) || !slices.Equal(ds[1].RecordIDs, []string{r.ID}) || !slices.Equal(ds[2].Deleted, []string{r.ID}) {
		t.Errorf("deliveries: %+v", ds)
	}
	if ds[0].ID == "" || ds[0].ID == ds[1].ID {
		t.Errorf("delivery ids %q and %q must be set and differ", ds[0].ID, ds[1].ID)
	}
	tampered := append([]byte(nil), got[0].body...)
	tampered[len(tampered)-2] ^= 1
	if _, err := tr.ParseWebhook(got[0].h, tampered); !errors.Is(err, connectors.ErrBadSignature) {
		t.Errorf("a tampered delivery: %v; want ErrBadSignature", err)
	}
	if _, err := New(Options{}).ParseWebhook(got[0].h, got[0].body); !errors.Is(err, connectors.ErrBadSignature) {
		t.Errorf("a tracker without a secret accepted a delivery: %v", err)
	}
}

func TestFactory(t *testing.T) {
	node := func(t *testing.T, src string) *yaml.Node {
		t.Helper()
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Content[0]
	}
	t.Run("settings configure the tracker", func(t *testing.T) {
		c, err := Factory(context.Background(), connectors.Env{Target: "demo", Settings: node(t, "page_size: 2\nlatency: 1ms\n")})
		if err != nil {
			t.Fatal(err)
		}
		tr := c.(*Tracker)
		for i := range 3 {
			create(t, tr, "BL-"+strconv.Itoa(i), "title", "x")
		}
		p, err := c.Changes(context.Background(), "")
		if err != nil || len(p.Records) != 2 || !p.More {
			t.Errorf("first page: %d records, more %v, %v; want 2 and more", len(p.Records), p.More, err)
		}
	})
	t.Run("no settings block is fine", func(t *testing.T) {
		if _, err := Factory(context.Background(), connectors.Env{Target: "demo"}); err != nil {
			t.Error(err)
		}
	})
	for _, tt := range []struct{ name, src, want string }{
		{"an unknown key is refused with its line", "page_size: 2\npage_sise: 3\n", "line 2"},
		{"a page size out of range is refused", "page_size: 5000\n", "page_size 5000 is out of range"},
		{"a latency that is not a duration is refused", "latency: fast\n", `"fast" is not a duration`},
		{"an error rate above 1 is refused", "error_rate: 1.5\n", "error_rate 1.5 is out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Factory(context.Background(), connectors.Env{Target: "demo", Settings: node(t, tt.src)})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "memory target demo") {
				t.Errorf("err = %v; want it to name the target and say %q", err, tt.want)
			}
		})
	}
}

// drainIDs lists Changes until caught up.
func drainIDs(t testing.TB, tr *Tracker, cursor string) ([]string, string) {
	t.Helper()
	var ids []string
	for {
		p, err := tr.Changes(context.Background(), cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		cursor = p.Cursor
		if !p.More {
			return ids, cursor
		}
	}
}
