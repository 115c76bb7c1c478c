package memory

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/backlogd/backlogd/connectors"
)

// entry is one change in the log: record id got sequence number seq. An
// entry is stale once the record changed again or was deleted.
type entry struct {
	seq uint64
	id  string
}

// live reports whether e is the record's latest change; t.mu is held.
func (t *Tracker) live(e entry) (*record, bool) {
	r := t.records[e.id]
	return r, r != nil && r.seq == e.seq
}

// compact drops stale entries once they are most of the log, so a
// listing never wades through more dead entries than live ones
// (amortised O(1) per change); t.mu is held.
func (t *Tracker) compact() {
	if t.stale < 1024 || t.stale*2 < len(t.log) {
		return
	}
	kept := t.log[:0]
	for _, e := range t.log {
		if _, ok := t.live(e); ok {
			kept = append(kept, e)
		}
	}
	clear(t.log[len(kept):])
	t.log, t.stale = kept, 0
}

// Changes implements connectors.Connector: live records changed after
// the cursor's sequence number, in the order they last changed. The
// cursor names the tracker it came from: one from another tracker (a
// restarted process, whose data is gone) lists from the beginning.
func (t *Tracker) Changes(ctx context.Context, cursor string) (connectors.Page, error) {
	if err := t.call(ctx, opChanges, "", ""); err != nil {
		return connectors.Page{}, err
	}
	after := t.parseCursor(cursor)
	t.mu.RLock()
	defer t.mu.RUnlock()
	if after > t.seq {
		after = 0 // not a cursor this tracker wrote
	}
	i := sort.Search(len(t.log), func(i int) bool { return t.log[i].seq > after })
	page := connectors.Page{}
	last := after
	for ; i < len(t.log); i++ {
		r, ok := t.live(t.log[i])
		if !ok {
			continue
		}
		if len(page.Records) == t.opts.PageSize {
			page.More = true
			break
		}
		page.Records = append(page.Records, t.export(r, false))
		last = r.seq
	}
	if !page.More {
		// Caught up: everything up to now is listed or gone.
		last = max(last, t.seq)
	}
	page.Cursor = "m1:" + t.epoch + ":" + strconv.FormatUint(last, 10)
	return page, nil
}

// parseCursor returns the sequence number to list after; 0 for the empty
// cursor, another tracker's or one this connector did not write.
func (t *Tracker) parseCursor(s string) uint64 {
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "m1" || parts[1] != t.epoch {
		return 0
	}
	n, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
