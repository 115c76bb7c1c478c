package syncer

import (
	"testing"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/mapping"
)

func TestMerge(t *testing.T) {
	const f = backlog.FieldTitle
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name               string
		dir                mapping.Direction
		policy             mapping.Policy
		base               backlog.Fields
		canon, remote      string
		canonAt, remoteAt  time.Time
		parked             bool
		wantPull, wantPush string // "" means no entry
		wantBase           string
		wantConflict       bool
	}{
		{name: "nothing changed writes nothing", base: backlog.Fields{f: "a"}, canon: "a", remote: "a", wantBase: "a"},
		{name: "our own echo (both equal, base old) only moves the base", base: backlog.Fields{f: "a"}, canon: "b", remote: "b", wantBase: "b"},
		{name: "only the tracker changed: pulled", base: backlog.Fields{f: "a"}, canon: "a", remote: "b", wantPull: "b", wantBase: "b"},
		{name: "only the canonical item changed: pushed", base: backlog.Fields{f: "a"}, canon: "b", remote: "a", wantPush: "b", wantBase: "b"},
		{name: "both changed, canonical wins", policy: mapping.CanonicalWins, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", wantPush: "b", wantBase: "b"},
		{name: "both changed, tracker wins", policy: mapping.TrackerWins, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", wantPull: "c", wantBase: "c"},
		{name: "both changed, latest wins: tracker later", policy: mapping.LatestWins, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", canonAt: t0, remoteAt: t0.Add(time.Minute), wantPull: "c", wantBase: "c"},
		{name: "both changed, latest wins: canonical later", policy: mapping.LatestWins, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", canonAt: t0.Add(time.Minute), remoteAt: t0, wantPush: "b", wantBase: "b"},
		{name: "both changed, manual parks and keeps the base", policy: mapping.Manual, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", wantConflict: true, wantBase: "a"},
		{name: "a parked field is left alone", policy: mapping.Manual, parked: true, base: backlog.Fields{f: "a"}, canon: "b", remote: "c", wantBase: "a"},
		{name: "to-tracker undoes a tracker edit", dir: mapping.ToTracker, base: backlog.Fields{f: "a"}, canon: "a", remote: "b", wantPush: "a", wantBase: "a"},
		{name: "from-tracker undoes a canonical edit", dir: mapping.FromTracker, base: backlog.Fields{f: "a"}, canon: "b", remote: "a", wantPull: "a", wantBase: "a"},
		{name: "relink without base: canonical is the reference under manual", policy: mapping.Manual, canon: "b", remote: "c", wantPush: "b", wantBase: "b"},
		{name: "relink without base under tracker-wins pulls", policy: mapping.TrackerWins, canon: "b", remote: "c", wantPull: "c", wantBase: "c"},
		{name: "a field missing from the base counts as empty on both sides", base: backlog.Fields{}, canon: "", remote: "x", wantPull: "x", wantBase: "x"},
		{name: "relink without base never erases the tracker's value", policy: mapping.CanonicalWins, canon: "", remote: "c", wantPull: "c", wantBase: "c"},
		{name: "relink without base never erases the canonical value", policy: mapping.TrackerWins, canon: "b", remote: "", wantPush: "b", wantBase: "b"},
		{name: "relink without base never erases the tracker's value under manual", policy: mapping.Manual, canon: "", remote: "c", wantPull: "c", wantBase: "c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir
			if dir == "" {
				dir = mapping.Both
			}
			in := mergeInput{
				Rules: []fieldRule{{Field: f, Direction: dir}}, Base: tc.base,
				Canonical: backlog.Fields{f: tc.canon}, Remote: backlog.Fields{f: tc.remote},
				Policy: tc.policy, CanonicalUpdated: tc.canonAt, RemoteUpdated: tc.remoteAt,
				Parked: map[backlog.Field]bool{f: tc.parked},
			}
			m := merge(in)
			if got, ok := m.Pull[f]; ok != (tc.wantPull != "") || got != tc.wantPull {
				t.Errorf("pull = %q (present %v), want %q", got, ok, tc.wantPull)
			}
			if got, ok := m.Push[f]; ok != (tc.wantPush != "") || got != tc.wantPush {
				t.Errorf("push = %q (present %v), want %q", got, ok, tc.wantPush)
			}
			if m.Base[f] != tc.wantBase {
				t.Errorf("new base = %q, want %q", m.Base[f], tc.wantBase)
			}
			if got := len(m.Conflicts) > 0; got != tc.wantConflict {
				t.Errorf("conflict = %v, want %v", got, tc.wantConflict)
			}
		})
	}
}
