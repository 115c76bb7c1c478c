package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// ErrInjected is wrapped by every failure the tracker was told to
// produce, so a test can tell them from real ones. Transient failures
// wrap only it; rate limits also wrap a *connectors.RateLimitError and
// rejections are *connectors.TerminalError.
var ErrInjected = errors.New("injected failure")

// --- calls -----------------------------------------------------------

type op int

const (
	opGet op = iota
	opChanges
	opFindByMarker
	opCreate
	opUpdate
	opCreateComment
	opUpdateComment
	opDeleteComment
	opRateLimited
	opRejected
	opFailed
	numOps
)

// Calls counts connector calls by operation, failed ones included, and
// the injected failures among them. Person-side calls (AddRecord, Edit…)
// are not counted.
type Calls struct {
	Get, Changes, FindByMarker                  int64
	Create, Update                              int64
	CreateComment, UpdateComment, DeleteComment int64
	// RateLimited, Rejected and Failed count calls answered with an
	// injected rate limit, terminal rejection or transient error.
	RateLimited, Rejected, Failed int64
}

// Reads is the number of reading calls.
func (c Calls) Reads() int64 { return c.Get + c.Changes + c.FindByMarker }

// Writes is the number of writing calls.
func (c Calls) Writes() int64 {
	return c.Create + c.Update + c.CreateComment + c.UpdateComment + c.DeleteComment
}

// Total is the number of connector calls: what a real tracker would
// have answered.
func (c Calls) Total() int64 { return c.Reads() + c.Writes() }

// Calls returns the call counters.
func (t *Tracker) Calls() Calls {
	g := func(o op) int64 { return t.counts[o].Load() }
	return Calls{
		Get: g(opGet), Changes: g(opChanges), FindByMarker: g(opFindByMarker),
		Create: g(opCreate), Update: g(opUpdate),
		CreateComment: g(opCreateComment), UpdateComment: g(opUpdateComment), DeleteComment: g(opDeleteComment),
		RateLimited: g(opRateLimited), Rejected: g(opRejected), Failed: g(opFailed),
	}
}

// ResetCalls zeroes the call counters.
func (t *Tracker) ResetCalls() {
	for i := range t.counts {
		t.counts[i].Store(0)
	}
}

// --- failure injection -------------------------------------------------

// injector decides which calls fail. armed is false when nothing is
// injected, so the common path takes no lock.
type injector struct {
	armed atomic.Bool

	mu         sync.Mutex
	latency    time.Duration
	errorRate  float64
	limitRate  float64
	limitWait  time.Duration
	rng        *rand.Rand
	limitNext  []time.Duration // waits for the next calls, in order
	rejectNext int
	failNext   int
	crashNext  int
	// writes fails every writing call; items fails every call about the
	// record carrying a marker, by marker (FailWrites, FailItem).
	writes error
	items  map[string]error
}

func (in *injector) init(o Options) {
	in.latency, in.errorRate, in.limitRate, in.limitWait = o.Latency, o.ErrorRate, o.RateLimitRate, o.RateLimitWait
	in.rng = rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	in.rearm()
}

// rearm recomputes armed; in.mu is held (or in is not shared yet).
func (in *injector) rearm() {
	in.armed.Store(in.latency > 0 || in.errorRate > 0 || in.limitRate > 0 ||
		len(in.limitNext) > 0 || in.rejectNext > 0 || in.failNext > 0 || in.crashNext > 0 ||
		in.writes != nil || len(in.items) > 0)
}

type failure int

const (
	none failure = iota
	limited
	rejected
	failed
)

func (in *injector) decide() (time.Duration, failure, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	defer in.rearm()
	// Draw for both rates on every call, so the sequence of outcomes
	// depends on the seed and the number of calls only.
	var limit, fail bool
	if in.limitRate > 0 {
		limit = in.rng.Float64() < in.limitRate
	}
	if in.errorRate > 0 {
		fail = in.rng.Float64() < in.errorRate
	}
	switch {
	case in.rejectNext > 0:
		in.rejectNext--
		return in.latency, rejected, 0
	case len(in.limitNext) > 0:
		wait := in.limitNext[0]
		in.limitNext = in.limitNext[1:]
		return in.latency, limited, wait
	case in.failNext > 0:
		in.failNext--
		return in.latency, failed, 0
	case limit:
		return in.latency, limited, in.limitWait
	case fail:
		return in.latency, failed, 0
	}
	return in.latency, none, 0
}

func (in *injector) crashed() bool {
	if !in.armed.Load() {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.crashNext == 0 {
		return false
	}
	in.crashNext--
	in.rearm()
	return true
}

func (in *injector) set(f func(in *injector)) {
	in.mu.Lock()
	f(in)
	in.rearm()
	in.mu.Unlock()
}

// opNames name operations in error messages.
var opNames = [numOps]string{
	opGet: "get", opChanges: "list changes", opFindByMarker: "find marker", opCreate: "create",
	opUpdate: "update", opCreateComment: "comment on",
	opUpdateComment: "edit comment", opDeleteComment: "delete comment",
}

// writes reports whether o writes to the tracker.
func (o op) writes() bool {
	switch o {
	case opCreate, opUpdate, opCreateComment, opUpdateComment, opDeleteComment:
		return true
	}
	return false
}

// call counts a connector call, waits its latency and returns the
// failure injected into it, if any. subject (a record, comment or marker)
// goes into error messages; record is the id of the record the call is
// about, "" for a call by marker (whose subject is then the marker).
func (t *Tracker) call(ctx context.Context, o op, subject, record string) error {
	t.counts[o].Add(1)
	if !t.inj.armed.Load() {
		return ctx.Err()
	}
	latency, f, wait := t.inj.decide()
	if latency > 0 {
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
	what := opNames[o]
	if subject != "" {
		what += " " + subject
	}
	if err := t.targeted(o, subject, record); err != nil {
		switch {
		case connectors.IsTerminal(err):
			t.counts[opRejected].Add(1)
		case errors.As(err, new(*connectors.RateLimitError)):
			t.counts[opRateLimited].Add(1)
		default:
			t.counts[opFailed].Add(1)
		}
		return fmt.Errorf("%s: %s: %w (%w)", t.opts.Name, what, err, ErrInjected)
	}
	switch f {
	case rejected:
		t.counts[opRejected].Add(1)
		return connectors.Terminal(fmt.Errorf("%s: %s: the tracker refused the request, as for revoked credentials (%w)", t.opts.Name, what, ErrInjected))
	case limited:
		t.counts[opRateLimited].Add(1)
		rl := &connectors.RateLimitError{RetryAfter: wait, Scope: connectors.ScopeTarget, Reason: "injected rate limit"}
		return fmt.Errorf("%s: %s: %w (%w)", t.opts.Name, what, rl, ErrInjected)
	case failed:
		t.counts[opFailed].Add(1)
		return fmt.Errorf("%s: %s: the tracker failed (%w)", t.opts.Name, what, ErrInjected)
	}
	return ctx.Err()
}

// targeted returns the failure FailWrites or FailItem set for a call, if
// any.
func (t *Tracker) targeted(o op, subject, record string) error {
	t.inj.mu.Lock()
	writes, byItem := t.inj.writes, len(t.inj.items) > 0
	t.inj.mu.Unlock()
	if writes != nil && o.writes() {
		return writes
	}
	if !byItem || o == opChanges {
		return nil
	}
	marker := subject
	if record != "" {
		t.mu.RLock()
		marker = ""
		if r := t.records[record]; r != nil {
			marker = r.marker
		}
		t.mu.RUnlock()
	}
	t.inj.mu.Lock()
	defer t.inj.mu.Unlock()
	return t.inj.items[marker]
}

// FailWrites makes every writing connector call (create, update, marker,
// comments) fail with err, wrapped with ErrInjected, while reads and
// listings go on working: a tracker whose writes are broken, or a token
// that may only read. A nil err ends it. It takes precedence over the
// other injected failures.
func (t *Tracker) FailWrites(err error) {
	t.inj.set(func(in *injector) { in.writes = err })
}

// FailItem makes every connector call about one item fail with err,
// wrapped with ErrInjected: creating or finding a record with marker,
// and reading, updating or commenting on the record that carries it.
// Listings still list the record. A nil err ends it. It takes precedence
// over the other injected failures except FailWrites.
func (t *Tracker) FailItem(marker string, err error) {
	t.inj.set(func(in *injector) {
		if err == nil {
			delete(in.items, marker)
			return
		}
		if in.items == nil {
			in.items = map[string]error{}
		}
		in.items[marker] = err
	})
}

// SetLatency sets the time added to every connector call.
func (t *Tracker) SetLatency(d time.Duration) {
	t.inj.set(func(in *injector) { in.latency = max(d, 0) })
}

// SetErrorRate sets the share of connector calls failing with a
// transient error.
func (t *Tracker) SetErrorRate(p float64) {
	t.inj.set(func(in *injector) { in.errorRate = p })
}

// SetRateLimitRate sets the share of connector calls answered with a
// rate limit asking to wait retryAfter.
func (t *Tracker) SetRateLimitRate(p float64, retryAfter time.Duration) {
	t.inj.set(func(in *injector) { in.limitRate, in.limitWait = p, retryAfter })
}

// RateLimitNext answers the next n connector calls with a rate limit
// asking to wait retryAfter.
func (t *Tracker) RateLimitNext(n int, retryAfter time.Duration) {
	t.inj.set(func(in *injector) {
		for range n {
			in.limitNext = append(in.limitNext, retryAfter)
		}
	})
}

// RejectNext refuses the next n connector calls with a terminal error.
func (t *Tracker) RejectNext(n int) {
	t.inj.set(func(in *injector) { in.rejectNext += n })
}

// FailNext fails the next n connector calls with a transient error.
func (t *Tracker) FailNext(n int) {
	t.inj.set(func(in *injector) { in.failNext += n })
}

// CrashAfterNextCreate makes the next Create store the record and then
// fail as if the answer was lost.
func (t *Tracker) CrashAfterNextCreate() {
	t.inj.set(func(in *injector) { in.crashNext++ })
}

// --- a person in the tracker --------------------------------------------

// AddRecord creates a record as a person would (marker "" for none: a
// candidate for adoption) and returns it.
func (t *Tracker) AddRecord(marker string, fields connectors.Fields) connectors.Record {
	f := normalise(fields)
	t.mu.Lock()
	r := t.add(marker, f)
	out := t.export(r, true)
	t.mu.Unlock()
	t.deliver("record.created", r.id)
	return out
}

// Edit changes the given fields of a record as a person would, without
// the checks a connector write gets. It reports false when the record
// does not exist.
func (t *Tracker) Edit(id string, fields connectors.Fields) bool {
	f := normalise(fields)
	t.mu.Lock()
	r := t.records[id]
	if r == nil {
		t.mu.Unlock()
		return false
	}
	changed := t.apply(r, f)
	t.mu.Unlock()
	if changed {
		t.deliver("record.updated", id)
	}
	return true
}

// Mark sets a record's marker as a person editing it would ("" removes
// it). It reports false when the record does not exist.
func (t *Tracker) Mark(id, marker string) bool {
	t.mu.Lock()
	r := t.records[id]
	if r == nil {
		t.mu.Unlock()
		return false
	}
	if r.marker != marker {
		t.unmark(r)
		r.marker = marker
		t.mark(r)
		t.touch(r)
	}
	t.mu.Unlock()
	t.deliver("record.updated", id)
	return true
}

// Delete removes a record; it reports false when there was none.
func (t *Tracker) Delete(id string) bool {
	t.mu.Lock()
	r := t.records[id]
	if r == nil {
		t.mu.Unlock()
		return false
	}
	t.remove(r)
	t.mu.Unlock()
	t.deliverDeleted(id)
	return true
}

// AddComment adds a comment as a person would (c.Author as given).
func (t *Tracker) AddComment(recordID string, c connectors.Comment) (connectors.Comment, error) {
	return t.addComment(recordID, c)
}

// Peek reads a record with its comments, uncounted and never failing.
func (t *Tracker) Peek(id string) (connectors.Record, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.records[id]
	if r == nil {
		return connectors.Record{}, false
	}
	return t.export(r, true), true
}

// Records returns every record with its comments, by id.
func (t *Tracker) Records() []connectors.Record {
	t.mu.RLock()
	defer t.mu.RUnlock()
	rs := make([]*record, 0, len(t.records))
	for _, r := range t.records {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, byNumber)
	out := make([]connectors.Record, len(rs))
	for i, r := range rs {
		out[i] = t.export(r, true)
	}
	return out
}

// Len returns the number of records.
func (t *Tracker) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.records)
}

// normalise copies fields without empty values; a field left with none
// is nil, meaning "unset".
func normalise(fields connectors.Fields) connectors.Fields {
	out := make(connectors.Fields, len(fields))
	for name, vs := range fields {
		vs = slices.DeleteFunc(slices.Clone(vs), func(s string) bool { return s == "" })
		if len(vs) == 0 {
			vs = nil
		}
		out[name] = vs
	}
	return out
}
