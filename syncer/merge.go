package syncer

import (
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/mapping"
)

// fieldRule is what the merge needs to know of one field.
type fieldRule struct {
	Field     backlog.Field
	Direction mapping.Direction
}

// mergeInput is one key's three views, in canonical field space.
type mergeInput struct {
	Rules []fieldRule
	// Base is nil when there is no agreed state (a record just relinked
	// by marker): an empty side then takes the other's value, and two
	// values that differ are decided by the policy (manual: canonical).
	Base      backlog.Fields
	Canonical backlog.Fields
	Remote    backlog.Fields
	Policy    mapping.Policy
	// CanonicalUpdated and RemoteUpdated feed latest-wins.
	CanonicalUpdated time.Time
	RemoteUpdated    time.Time
	// Parked fields have an open manual conflict: left untouched.
	Parked map[backlog.Field]bool
}

// mergeResult says, per field, what to do.
type mergeResult struct {
	// Pull holds remote values to write into the canonical item (nil
	// for none).
	Pull backlog.Fields
	// Push holds canonical values to write to the tracker (nil for none).
	Push backlog.Fields
	// Agreed is the view both sides hold once Pull and Push are applied
	// (conflicting fields keep the remote value here, so ToRecord of it
	// does not touch them); Base is the new base to store.
	Agreed backlog.Fields
	Base   backlog.Fields
	// Conflicts lists fields parked for a person (manual policy).
	Conflicts []backlog.Field
}

// merge is the 3-way merge of one key. It is pure: the same input always
// gives the same result, which is what makes reconcile level-triggered
// and echo suppression free: after a write the base equals both sides,
// so the webhook our own write triggers merges to nothing.
func merge(in mergeInput) mergeResult {
	// Agreed and Base get every field; Pull and Push, usually empty, are
	// made on their first field (a reconcile that changes nothing then
	// allocates two maps, not four).
	r := mergeResult{Agreed: make(backlog.Fields, len(in.Rules)), Base: make(backlog.Fields, len(in.Rules))}
	for _, rule := range in.Rules {
		f := rule.Field
		canon, remote := in.Canonical[f], in.Remote[f]
		// An absent key in a base means "" like everywhere in Fields; only
		// a missing base (nil) means there is no agreed state at all.
		base, hasBase := in.Base[f], in.Base != nil
		pull := func() {
			if r.Pull == nil {
				r.Pull = backlog.Fields{}
			}
			r.Pull[f], r.Agreed[f], r.Base[f] = remote, remote, remote
		}
		push := func() {
			if r.Push == nil {
				r.Push = backlog.Fields{}
			}
			r.Push[f], r.Agreed[f], r.Base[f] = canon, canon, canon
		}
		switch {
		case canon == remote:
			r.Agreed[f], r.Base[f] = canon, canon
		case in.Parked[f]:
			r.Agreed[f], r.Base[f] = remote, base
		case rule.Direction == mapping.ToTracker:
			push() // the tracker is a mirror of this field: undo its edits
		case rule.Direction == mapping.FromTracker:
			pull() // the tracker owns this field: undo canonical edits
		case hasBase && canon == base:
			pull()
		case hasBase && remote == base:
			push()
		case !hasBase && canon == "":
			// No agreed state (a record relinked by marker): nobody's
			// edit is known, so a value never loses to an empty one,
			// whatever the policy: nothing is erased on either side.
			pull()
		case !hasBase && remote == "":
			push()
		default:
			switch decide(in, hasBase) {
			case mapping.TrackerWins:
				pull()
			case mapping.Manual:
				r.Conflicts = append(r.Conflicts, f)
				r.Agreed[f], r.Base[f] = remote, base
			default:
				push()
			}
		}
	}
	return r
}

// decide applies the conflict policy to a field both sides changed.
func decide(in mergeInput, hasBase bool) mapping.Policy {
	switch in.Policy {
	case mapping.LatestWins:
		if in.RemoteUpdated.After(in.CanonicalUpdated) {
			return mapping.TrackerWins
		}
		return mapping.CanonicalWins
	case mapping.Manual:
		if !hasBase {
			// A relinked record with no history: there is nobody's edit to
			// protect, the canonical backlog is the reference.
			return mapping.CanonicalWins
		}
		return mapping.Manual
	case mapping.TrackerWins:
		return mapping.TrackerWins
	}
	return mapping.CanonicalWins
}
