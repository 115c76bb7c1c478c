package redmine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
	"github.com/backlogd/backlogd/connectors/redmine/redminefake"
)

func allFields() connectors.Fields {
	f := connectors.Fields{}
	f.Set(FieldSubject, "Login fails on Safari")
	f.Set(FieldDescription, "Steps:\n\n1. open\n2. log in")
	f.Set(FieldTracker, "Feature")
	f.Set(FieldStatus, "In Progress")
	f.Set(FieldPriority, "High")
	f.Set(FieldAssignedTo, "alice")
	f.Set(FieldCategory, "Frontend")
	f.Set(FieldFixedVersion, "2.0")
	f.Set(FieldStartDate, "2026-03-02")
	f.Set(FieldDueDate, "2026-03-20")
	f.Set(FieldEstimatedHours, "2.5")
	f.Set(FieldDoneRatio, "30")
	f.Set("Phase", "Test & feedback")
	f.Set("Teams", "Backend", "QA")
	return f
}

func TestCreateAndGet(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		obs := newCounter()
		c := b.connect(t, obs)
		want := allFields()
		r, err := c.Create(ctx, "BL-1", want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range []struct {
			name string
			r    connectors.Record
		}{{"the record Create returns", r}, {"the record Get reads", got}} {
			t.Run(rec.name+" carries every field, the marker and no comments", func(t *testing.T) {
				for _, name := range want.Names() {
					if !want.Equal(rec.r.Fields, name) {
						t.Errorf("%s = %q, want %q", name, rec.r.Fields[name], want[name])
					}
				}
				if rec.r.Marker != "BL-1" || rec.r.Key != "#"+rec.r.ID || !strings.HasSuffix(rec.r.URL, "/issues/"+rec.r.ID) {
					t.Errorf("identity: %+v", rec.r)
				}
				if rec.r.Comments == nil || len(rec.r.Comments) != 0 {
					t.Errorf("comments = %#v, want an empty list", rec.r.Comments)
				}
				if rec.r.Version == "" || rec.r.Created.IsZero() || rec.r.Updated.Before(rec.r.Created) {
					t.Errorf("times: %+v", rec.r)
				}
			})
		}
		t.Run("a status other than the default costs one more write, since Redmine ignores it on create", func(t *testing.T) {
			if w := obs.get("write"); w != 2 {
				t.Errorf("%d writes, want POST then PUT", w)
			}
		})
		t.Run("unset fields read back empty", func(t *testing.T) {
			f := connectors.Fields{}
			f.Set(FieldSubject, "Bare")
			r, err := c.Create(ctx, "BL-2", f)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{FieldDescription, FieldAssignedTo, FieldCategory, FieldFixedVersion, FieldParent, FieldDueDate, FieldEstimatedHours, "Phase", "Teams"} {
				if v := r.Fields[name]; len(v) != 0 {
					t.Errorf("%s = %q, want unset", name, v)
				}
			}
			if r.Fields.Get(FieldStatus) != "New" || r.Fields.Get(FieldAuthor) != "admin" {
				t.Errorf("defaults: status %q author %q", r.Fields.Get(FieldStatus), r.Fields.Get(FieldAuthor))
			}
		})
	})
}

func TestUpdate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		obs := newCounter()
		c := b.connect(t, obs)
		r, err := c.Create(ctx, "BL-7", allFields())
		if err != nil {
			t.Fatal(err)
		}
		t.Run("an update that changes nothing sends no write and keeps updated_on", func(t *testing.T) {
			obs.reset()
			b.settle()
			u, err := c.Update(ctx, r.ID, r.Version, allFields(), "")
			if err != nil {
				t.Fatal(err)
			}
			if w := obs.get("write"); w != 0 {
				t.Errorf("%d writes for no change", w)
			}
			if u.Version != r.Version {
				t.Errorf("version moved from %s to %s", r.Version, u.Version)
			}
		})
		t.Run("an update writes only what differs and clears what is emptied", func(t *testing.T) {
			obs.reset()
			f := allFields()
			f.Set(FieldSubject, "Login fails on Safari 17")
			f.Set(FieldDueDate)
			f.Set("Teams", "Design")
			f.Set(FieldAssignedTo, "Bob Dubois") // a display name works too
			u, err := c.Update(ctx, r.ID, r.Version, f, "")
			if err != nil {
				t.Fatal(err)
			}
			if obs.get("write") != 1 {
				t.Errorf("%d writes, want one PUT", obs.get("write"))
			}
			if u.Fields.Get(FieldSubject) != "Login fails on Safari 17" || len(u.Fields[FieldDueDate]) != 0 ||
				!slices.Equal(u.Fields["Teams"], []string{"Design"}) || u.Fields.Get(FieldAssignedTo) != "bob" {
				t.Errorf("read back %v", u.Fields)
			}
			if u.Fields.Get(FieldCategory) != "Frontend" || u.Marker != "BL-7" {
				t.Errorf("an unrelated field moved: %v marker %q", u.Fields, u.Marker)
			}
			r = u
		})
		t.Run("a stale version is a conflict and writes nothing", func(t *testing.T) {
			b.settle()
			edit := connectors.Fields{}
			edit.Set(FieldSubject, "Renamed by a person")
			b.edit(t, r.ID, edit)
			obs.reset()
			f := connectors.Fields{}
			f.Set(FieldPriority, "Low")
			_, err := c.Update(ctx, r.ID, r.Version, f, "")
			if !errors.Is(err, connectors.ErrConflict) {
				t.Fatalf("err = %v, want a conflict", err)
			}
			if obs.get("write") != 0 {
				t.Error("the stale write was sent")
			}
		})
		t.Run("the parent is an issue id", func(t *testing.T) {
			f := connectors.Fields{}
			f.Set(FieldSubject, "Child")
			f.Set(FieldParent, r.ID)
			child, err := c.Create(ctx, "BL-8", f)
			if err != nil {
				t.Fatal(err)
			}
			if child.Fields.Get(FieldParent) != r.ID {
				t.Errorf("parent = %q, want %s", child.Fields.Get(FieldParent), r.ID)
			}
		})
	})
}

func TestWriteErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c := b.connect(t, nil)
		f := connectors.Fields{}
		f.Set(FieldSubject, "Valid")
		r, err := c.Create(ctx, "BL-1", f)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			field string
			value []string
			want  []string // substrings of the error
		}{
			{"an unknown tracker names the valid ones", FieldTracker, []string{"Epic"}, []string{`tracker "Epic"`, "Bug, Feature, Support"}},
			{"an unknown status names the valid ones", FieldStatus, []string{"Done"}, []string{`status "Done"`, "Resolved"}},
			{"a value outside a list field names its values", "Phase", []string{"Kickoff"}, []string{`Phase "Kickoff"`, "Kick-off"}},
			{"an unknown user says how to fix the users map", FieldAssignedTo, []string{"mallory"}, []string{`"mallory"`, "users"}},
			{"an unknown field is refused", "Story points", []string{"3"}, []string{`"Story points"`}},
			{"a malformed date says how to write it", FieldDueDate, []string{"20/03/2026"}, []string{"YYYY-MM-DD"}},
			{"Redmine's own validation is quoted with the issue", FieldSubject, []string{""}, []string{"Subject cannot be blank", "#" + r.ID}},
			{"a due date before the start date is quoted", FieldDueDate, []string{"2000-01-01"}, []string{"Due date must be greater than start date"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := connectors.Fields{tt.field: tt.value}
				_, err := c.Update(ctx, r.ID, "", f, "")
				if !connectors.IsTerminal(err) {
					t.Fatalf("err = %v, want terminal", err)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
			})
		}
		t.Run("a missing issue is not found", func(t *testing.T) {
			if _, err := c.Get(ctx, "999999"); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("get: %v", err)
			}
			if _, err := c.Update(ctx, "999999", "", f, ""); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("update: %v", err)
			}
		})
		t.Run("a refused key is terminal for the whole target and says what to check", func(t *testing.T) {
			b.rejectNext()
			_, err := c.Get(ctx, r.ID)
			if scope, _ := connectors.TerminalScope(err); scope != connectors.ScopeTarget || !strings.Contains(err.Error(), "api_key") || !strings.Contains(err.Error(), "REST") {
				t.Errorf("err = %v (scope %q)", err, scope)
			}
		})
		t.Run("a proxy's 429 with a long Retry-After pauses the target", func(t *testing.T) {
			b.rateLimitNext(time.Hour)
			_, err := c.Get(ctx, r.ID)
			if d, ok := connectors.RetryAfter(err); !ok || d < 59*time.Minute {
				t.Fatalf("err = %v, want a rate limit of an hour", err)
			}
			if _, err := c.Get(ctx, r.ID); err == nil {
				t.Error("a paused target still sent requests")
			}
		})
	})
}

func TestChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		obs := newCounter()
		c := b.connect(t, obs)
		var ids []string
		for i := range 7 {
			r, err := c.Create(ctx, "BL-"+string(rune('a'+i)), sample(i))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		// Close one: closed issues are only listed with status_id=*.
		closed := connectors.Fields{}
		closed.Set(FieldStatus, "Closed")
		if _, err := c.Update(ctx, ids[0], "", closed, ""); err != nil {
			t.Fatal(err)
		}
		got, cursor := drain(t, c, "")
		t.Run("a first listing returns every issue once, closed ones included, across pages", func(t *testing.T) {
			s := slices.Sorted(slices.Values(got))
			if !slices.Equal(s, slices.Sorted(slices.Values(ids))) {
				t.Errorf("listed %v, want %v", got, ids)
			}
		})
		t.Run("an idle poll lists nothing and every read of it is answered 304", func(t *testing.T) {
			drain(t, c, cursor) // the first re-read of the last window fills the ETag cache
			obs.reset()
			again, _ := drain(t, c, cursor)
			if len(again) != 0 {
				t.Errorf("idle poll listed %v", again)
			}
			// The last second's window is re-read each poll (Redmine's
			// >= overlaps by a second). Seven issues saved in one second
			// fill more than a page: one page in update order, the newest
			// issue, then the window by id, one page per PageSize issues.
			if r := obs.get("read"); r == 0 || r > 2+3 || obs.get("read 304") != r {
				t.Errorf("%d reads, %d of them 304; want at most 5, all 304", r, obs.get("read 304"))
			}
		})
		t.Run("a person's edit is listed once, in the window's overlap too", func(t *testing.T) {
			b.settle()
			f := connectors.Fields{}
			f.Set(FieldSubject, "Edited in Redmine")
			b.edit(t, ids[3], f)
			got, next := drain(t, c, cursor)
			if !slices.Equal(got, ids[3:4]) {
				t.Errorf("after an edit listed %v, want [%s]", got, ids[3])
			}
			if again, _ := drain(t, c, next); len(again) != 0 {
				t.Errorf("listed again: %v", again)
			}
			cursor = next
		})
		t.Run("a deleted issue stops being listed and reads as not found", func(t *testing.T) {
			b.del(t, ids[1])
			if _, err := c.Get(ctx, ids[1]); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("get a deleted issue: %v", err)
			}
			if got, _ := drain(t, c, ""); slices.Contains(got, ids[1]) {
				t.Errorf("deleted issue listed: %v", got)
			}
		})
	})
}

func TestMarkers(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c := b.connect(t, nil)
		f := connectors.Fields{}
		f.Set(FieldSubject, "Marked")
		r, err := c.Create(ctx, "BL-42", f)
		if err != nil {
			t.Fatal(err)
		}
		f.Set(FieldSubject, "Near miss")
		if _, err := c.Create(ctx, "BL-420", f); err != nil {
			t.Fatal(err)
		}
		closed := connectors.Fields{}
		closed.Set(FieldStatus, "Rejected")
		if _, err := c.Update(ctx, r.ID, "", closed, ""); err != nil {
			t.Fatal(err)
		}
		t.Run("FindByMarker matches exactly and finds closed issues", func(t *testing.T) {
			got, err := c.FindByMarker(ctx, "BL-42")
			if err != nil || got.ID != r.ID {
				t.Fatalf("got %v, %v; want #%s", got.ID, err, r.ID)
			}
			if got.Comments == nil {
				t.Error("FindByMarker should return a full record")
			}
		})
		t.Run("FindByMarker reports an unknown marker as not found", func(t *testing.T) {
			if _, err := c.FindByMarker(ctx, "BL-4"); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("err = %v", err)
			}
		})
		t.Run("Update with the marker alone adopts an issue a person filed", func(t *testing.T) {
			f := connectors.Fields{}
			f.Set(FieldSubject, "Filed by the client")
			r2, err := c.Create(ctx, "", f)
			if err != nil {
				t.Fatal(err)
			}
			if r2.Marker != "" {
				t.Fatalf("marker %q on an unmarked issue", r2.Marker)
			}
			if _, err := c.Update(ctx, r2.ID, "", nil, "BL-99"); err != nil {
				t.Fatal(err)
			}
			got, err := c.FindByMarker(ctx, "BL-99")
			if err != nil || got.ID != r2.ID || got.Marker != "BL-99" {
				t.Errorf("after Update with the marker: %+v, %v", got, err)
			}
			if _, err := c.Update(ctx, r2.ID, "", nil, "BL-99"); err != nil {
				t.Errorf("writing the same marker again: %v", err)
			} else if again, _ := c.Get(ctx, r2.ID); again.Version != got.Version {
				t.Error("writing the same marker again wrote to the issue")
			}
		})
		t.Run("a create whose answer was lost is found by its marker", func(t *testing.T) {
			b.crashNext()
			f := connectors.Fields{}
			f.Set(FieldSubject, "Lost answer")
			if _, err := c.Create(ctx, "BL-77", f); err == nil {
				t.Fatal("the create reported success")
			}
			got, err := c.FindByMarker(ctx, "BL-77")
			if err != nil || got.Fields.Get(FieldSubject) != "Lost answer" {
				t.Errorf("got %+v, %v", got, err)
			}
		})
		t.Run("Update adopts an issue a person filed with its fields in one PUT", func(t *testing.T) {
			// A connector of its own, to count its writes (made last:
			// the backend's hooks act on the connector made last).
			obs := newCounter()
			c := b.connect(t, obs)
			f := connectors.Fields{}
			f.Set(FieldSubject, "Filed by the client, too")
			r3, err := c.Create(ctx, "", f)
			if err != nil {
				t.Fatal(err)
			}
			obs.reset()
			f.Set(FieldSubject, "Filed by the client, adopted")
			got, err := c.Update(ctx, r3.ID, r3.Version, f, "BL-98")
			if err != nil {
				t.Fatal(err)
			}
			if got.Marker != "BL-98" || got.Fields.Get(FieldSubject) != "Filed by the client, adopted" {
				t.Errorf("after Update with a marker: %+v", got)
			}
			if w := obs.get("write"); w != 1 {
				t.Errorf("%d writes, want one PUT for the subject and the marker", w)
			}
		})
	})
}

func TestComments(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		c := b.connect(t, nil)
		f := connectors.Fields{}
		f.Set(FieldSubject, "Discussed")
		r, err := c.Create(ctx, "BL-5", f)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: "Looks good\nto me"})
		if err != nil {
			t.Fatal(err)
		}
		priv, err := c.CreateComment(ctx, r.ID, connectors.Comment{Body: "Costs us 3 days", Internal: true})
		if err != nil {
			t.Fatal(err)
		}
		// A field change makes a journal without notes: not a comment.
		if _, err := c.Update(ctx, r.ID, "", connectors.Fields{FieldPriority: {"High"}}, ""); err != nil {
			t.Fatal(err)
		}
		b.comment(t, r.ID, "From the client")
		got, err := c.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("notes read back as comments, private notes as internal ones", func(t *testing.T) {
			if len(got.Comments) != 3 {
				t.Fatalf("comments %+v", got.Comments)
			}
			want := []connectors.Comment{
				{ID: pub.ID, Author: "admin", Body: "Looks good\nto me"},
				{ID: priv.ID, Author: "admin", Body: "Costs us 3 days", Internal: true},
				{Author: "alice", Body: "From the client"},
			}
			for i, w := range want {
				g := got.Comments[i]
				if (w.ID != "" && g.ID != w.ID) || g.Author != w.Author || g.Body != w.Body || g.Internal != w.Internal || g.Created.IsZero() {
					t.Errorf("comment %d = %+v, want %+v", i, g, w)
				}
			}
		})
		t.Run("a note can be edited", func(t *testing.T) {
			if err := c.UpdateComment(ctx, r.ID, pub.ID, "Looks great"); err != nil {
				t.Fatal(err)
			}
			got, _ := c.Get(ctx, r.ID)
			if got.Comments[0].Body != "Looks great" {
				t.Errorf("after edit: %+v", got.Comments)
			}
		})
		t.Run("a deleted note is gone", func(t *testing.T) {
			if err := c.DeleteComment(ctx, r.ID, priv.ID); err != nil {
				t.Fatal(err)
			}
			got, _ := c.Get(ctx, r.ID)
			for _, cm := range got.Comments {
				if cm.ID == priv.ID {
					t.Errorf("still there: %+v", cm)
				}
			}
			if err := c.UpdateComment(ctx, r.ID, "999999", "x"); !errors.Is(err, connectors.ErrNotFound) {
				t.Errorf("editing a missing note: %v", err)
			}
		})
	})
}

func TestEstimatedDays(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		obs := newCounter()
		c := b.connect(t, obs)
		f := connectors.Fields{}
		f.Set(FieldSubject, "Estimated in days")
		f.Set(FieldEstimatedDays, "1.5")
		r, err := c.Create(ctx, "BL-1", f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run("days are written as hours of an 8-hour day and read back as days", func(t *testing.T) {
			if r.Fields.Get(FieldEstimatedHours) != "12" || r.Fields.Get(FieldEstimatedDays) != "1.5" {
				t.Errorf("estimated_hours %q, estimated_days %q; want 12 and 1.5", r.Fields.Get(FieldEstimatedHours), r.Fields.Get(FieldEstimatedDays))
			}
		})
		t.Run("writing the same days again writes nothing", func(t *testing.T) {
			obs.reset()
			if _, err := c.Update(ctx, r.ID, "", f, ""); err != nil {
				t.Fatal(err)
			}
			if w := obs.get("write"); w != 0 {
				t.Errorf("%d writes, want none", w)
			}
		})
		t.Run("a day that is no whole number of hours reads back as written", func(t *testing.T) {
			cfg := c.cfg
			cfg.HoursPerDay = 7.5
			c75, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			third := connectors.Fields{}
			third.Set(FieldEstimatedDays, "0.3333")
			got, err := c75.Update(ctx, r.ID, "", third, "")
			if err != nil {
				t.Fatal(err)
			}
			if got.Fields.Get(FieldEstimatedDays) != "0.3333" {
				t.Errorf("estimated_days %q (hours %q), want 0.3333", got.Fields.Get(FieldEstimatedDays), got.Fields.Get(FieldEstimatedHours))
			}
		})
		t.Run("mapping both fields is refused", func(t *testing.T) {
			both := f.Clone()
			both.Set(FieldEstimatedHours, "3")
			if _, err := c.Update(ctx, r.ID, "", both, ""); !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "map only one") {
				t.Errorf("err = %v, want a terminal error naming both fields", err)
			}
		})
	})
}

func TestRequiredFieldsLeftUnset(t *testing.T) {
	// Redmine requires a tracker, a status and a priority: a blank
	// priority is refused and a blank tracker or status ignored. An item
	// that has none gets Redmine's defaults, and no write tries to clear
	// them.
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		obs := newCounter()
		c := b.connect(t, obs)
		f := connectors.Fields{}
		f.Set(FieldSubject, "No priority")
		f.Set(FieldTracker)
		f.Set(FieldStatus)
		f.Set(FieldPriority)
		r, err := c.Create(ctx, "BL-1", f)
		if err != nil {
			t.Fatal(err)
		}
		if r.Fields.Get(FieldPriority) != "Normal" || r.Fields.Get(FieldTracker) != "Bug" || r.Fields.Get(FieldStatus) != "New" {
			t.Errorf("created with %v; want Redmine's defaults", r.Fields)
		}
		obs.reset()
		if _, err := c.Update(ctx, r.ID, "", f, ""); err != nil {
			t.Fatal(err)
		}
		if w := obs.get("write"); w != 0 {
			t.Errorf("an update leaving them unset made %d writes, want none", w)
		}
	})
}

// TestFindByMarkerRefusesAFilterRedmineIgnored: a key without admin rights
// cannot see whether the marker field is "Used as a filter"; when it is
// not, Redmine drops cf_N silently and lists unrelated issues. Reading
// that as "no issue carries the marker" would make the syncer create a
// duplicate, so it is a terminal error that says what to tick.
func TestFindByMarkerRefusesAFilterRedmineIgnored(t *testing.T) {
	ctx := context.Background()
	b := fakeBackend(func(s *redminefake.Server) {
		s.WithoutAdminRights()
		s.SetFilter(redminefake.MarkerFieldID, false)
	})
	c := b.connect(t, nil)
	f := connectors.Fields{}
	f.Set(FieldSubject, "Marked")
	if _, err := c.Create(ctx, "BL-1", f); err != nil {
		t.Fatal(err)
	}
	f.Set(FieldSubject, "Filed by a person")
	if _, err := c.Create(ctx, "", f); err != nil {
		t.Fatal(err)
	}
	for _, marker := range []string{"BL-2", "BL-1"} {
		_, err := c.FindByMarker(ctx, marker)
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Used as a filter") {
			t.Errorf("FindByMarker(%s) with the filter ignored: %v; want a terminal error saying to tick \"Used as a filter\"", marker, err)
		}
	}
	t.Run("with the filter honoured the same key finds the issue", func(t *testing.T) {
		b := fakeBackend((*redminefake.Server).WithoutAdminRights)
		c := b.connect(t, nil)
		f := connectors.Fields{}
		f.Set(FieldSubject, "Marked")
		r, err := c.Create(ctx, "BL-1", f)
		if err != nil {
			t.Fatal(err)
		}
		f.Set(FieldSubject, "Other")
		if _, err := c.Create(ctx, "BL-3", f); err != nil {
			t.Fatal(err)
		}
		if got, err := c.FindByMarker(ctx, "BL-1"); err != nil || got.ID != r.ID {
			t.Errorf("FindByMarker(BL-1) = %q, %v; want #%s", got.ID, err, r.ID)
		}
		if _, err := c.FindByMarker(ctx, "BL-2"); !errors.Is(err, connectors.ErrNotFound) {
			t.Errorf("FindByMarker(BL-2) = %v; want not found", err)
		}
	})
}

// TestTheMarkerNeverGoesMissing: Redmine drops the value of a custom field
// that is not enabled for the issue's tracker without a word. An issue
// created so carries no marker: the next poll would adopt it as a new
// item, next to the one it was made for.
func TestTheMarkerNeverGoesMissing(t *testing.T) {
	ctx := context.Background()
	support := connectors.Fields{}
	support.Set(FieldSubject, "Asked for support")
	support.Set(FieldTracker, "Support")
	onlyBugsAndFeatures := func(s *redminefake.Server) { s.SetTrackers(redminefake.MarkerFieldID, 1, 2) }
	t.Run("an admin key refuses the create before sending it", func(t *testing.T) {
		obs := newCounter()
		b := fakeBackend(onlyBugsAndFeatures)
		c := b.connect(t, obs)
		if err := c.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		obs.reset()
		_, err := c.Create(ctx, "BL-1", support)
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Support") {
			t.Fatalf("err = %v; want a terminal error naming the tracker", err)
		}
		if w := obs.get("write"); w != 0 {
			t.Errorf("%d writes; the create should not have been sent", w)
		}
	})
	t.Run("a key that cannot see the fields' trackers deletes what it created", func(t *testing.T) {
		var srv *redminefake.Server
		b := fakeBackend(onlyBugsAndFeatures, (*redminefake.Server).WithoutAdminRights, func(s *redminefake.Server) { srv = s })
		c := b.connect(t, nil)
		_, err := c.Create(ctx, "BL-1", support)
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Support") {
			t.Fatalf("err = %v; want a terminal error naming the tracker", err)
		}
		if n := srv.Issues(); n != 0 {
			t.Errorf("%d issues left in Redmine; an unmarked one would be adopted as a duplicate", n)
		}
		if ids, _ := drain(t, c, ""); len(ids) != 0 {
			t.Errorf("Changes lists %v, which the syncer would adopt", ids)
		}
	})
	adopted := connectors.Fields{}
	adopted.Set(FieldSubject, "Asked for support, adopted")
	for _, tt := range []struct {
		name   string
		fields connectors.Fields
	}{
		{"Update with the marker alone reads it back and says when it did not stick", nil},
		{"Update with a marker and fields reads it back and says when it did not stick", adopted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := fakeBackend(onlyBugsAndFeatures, (*redminefake.Server).WithoutAdminRights)
			c := b.connect(t, nil)
			r, err := c.Create(ctx, "", support)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Update(ctx, r.ID, "", tt.fields.Clone(), "BL-2")
			if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Support") {
				t.Errorf("err = %v; want a terminal error naming the tracker", err)
			}
		})
	}
	t.Run("an admin key refuses a marker for a tracker without the field before sending it", func(t *testing.T) {
		obs := newCounter()
		b := fakeBackend(onlyBugsAndFeatures)
		c := b.connect(t, obs)
		r, err := c.Create(ctx, "", support)
		if err != nil {
			t.Fatal(err)
		}
		obs.reset()
		_, err = c.Update(ctx, r.ID, "", nil, "BL-2")
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Support") {
			t.Fatalf("err = %v; want a terminal error naming the tracker", err)
		}
		if w := obs.get("write"); w != 0 {
			t.Errorf("%d writes; the marker should not have been sent", w)
		}
	})
	t.Run("the fields of an Update still go out when only its marker cannot", func(t *testing.T) {
		// A person moved a marked issue to a tracker without the field:
		// the item's fields keep syncing, only the marker is refused.
		b := fakeBackend(onlyBugsAndFeatures)
		c := b.connect(t, nil)
		r, err := c.Create(ctx, "", support)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Update(ctx, r.ID, "", adopted.Clone(), "BL-2")
		if !connectors.IsTerminal(err) || !strings.Contains(err.Error(), "Support") {
			t.Errorf("err = %v; want a terminal error naming the tracker", err)
		}
		if got, err := c.Get(ctx, r.ID); err != nil || got.Fields.Get(FieldSubject) != "Asked for support, adopted" {
			t.Errorf("after the update: subject %q, %v; want the new subject written", got.Fields.Get(FieldSubject), err)
		}
	})
	t.Run("a tracker with the field is created as before", func(t *testing.T) {
		b := fakeBackend(onlyBugsAndFeatures)
		c := b.connect(t, nil)
		f := support.Clone()
		f.Set(FieldTracker, "Bug")
		r, err := c.Create(ctx, "BL-3", f)
		if err != nil || r.Marker != "BL-3" {
			t.Errorf("create a Bug: %+v, %v", r, err)
		}
	})
}
