package memory

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Options configure a Tracker. The zero value of each field is a sensible
// default.
type Options struct {
	// Name appears in errors and record URLs (default "memory").
	Name string
	// KeyPrefix starts record keys: "MEM" gives MEM-12 (default "MEM").
	KeyPrefix string
	// PageSize is the number of records per Changes page (default 100).
	PageSize int
	// Now is the clock for created and updated times (default time.Now).
	Now func() time.Time
	// User is the author of comments the connector writes (default
	// "backlogd").
	User string
	// Fields, when set, declares the native fields, and writes are
	// checked against them; nil means free-form.
	Fields []connectors.FieldSpec
	// NoInternalComments makes the tracker unable to hide comments, like
	// GitHub: an internal comment is refused.
	NoInternalComments bool

	// Latency is added to every connector call (not to person-side calls).
	Latency time.Duration
	// ErrorRate is the share of connector calls failing with a transient
	// error (ErrInjected), drawn from a generator seeded with Seed.
	ErrorRate float64
	// RateLimitRate is the share of connector calls answered with a rate
	// limit asking to wait RateLimitWait (default one minute).
	RateLimitRate float64
	RateLimitWait time.Duration
	// Seed seeds the draws of ErrorRate and RateLimitRate, so a
	// single-threaded test sees the same failures on every run.
	Seed uint64

	// WebhookSecret, when set, makes the connector a webhook receiver
	// whose deliveries are signed with it.
	WebhookSecret string
	// Webhook, when set, is handed a signed delivery after every change,
	// synchronously and without locks held: keep it short or hand off.
	Webhook func(header http.Header, body []byte)
}

// Tracker is an in-process tracker and the connector to it. It
// implements connectors.Connector and connectors.WebhookReceiver; every
// method is safe for concurrent use.
type Tracker struct {
	opts  Options
	epoch string // tells this tracker's cursors from another's

	mu       sync.RWMutex
	records  map[string]*record
	byMarker map[string][]string // marker to ids, oldest first
	log      []entry             // changes in sequence order, some stale
	stale    int                 // stale entries in log
	seq      uint64
	lastID   int64
	lastNote int64
	lastHook int64

	inj    injector
	counts [numOps]atomic.Int64
}

// record is a stored record. Its fields and comments are owned by the
// tracker: they are copied in on write and out on read.
type record struct {
	id       string
	key, url string
	n        int64
	marker   string
	fields   connectors.Fields
	comments []connectors.Comment
	version  int64
	vstring  string // version, formatted once per change
	created  time.Time
	updated  time.Time
	seq      uint64
}

var (
	_ connectors.Connector       = (*Tracker)(nil)
	_ connectors.WebhookReceiver = (*Tracker)(nil)
)

// New makes an empty tracker.
func New(o Options) *Tracker {
	if o.Name == "" {
		o.Name = "memory"
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "MEM"
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.User == "" {
		o.User = "backlogd"
	}
	if o.RateLimitWait <= 0 {
		o.RateLimitWait = time.Minute
	}
	o.Fields = slices.Clone(o.Fields)
	var b [8]byte
	_, _ = rand.Read(b[:])
	t := &Tracker{
		opts:     o,
		epoch:    hex.EncodeToString(b[:]),
		records:  map[string]*record{},
		byMarker: map[string][]string{},
	}
	t.inj.init(o)
	return t
}

func (t *Tracker) now() time.Time { return t.opts.Now().UTC() }

// Capabilities implements connectors.Connector.
func (t *Tracker) Capabilities() connectors.Capabilities {
	fields := make([]connectors.FieldSpec, len(t.opts.Fields))
	for i, f := range t.opts.Fields {
		f.Values = slices.Clone(f.Values)
		fields[i] = f
	}
	if len(fields) == 0 {
		fields = nil
	}
	return connectors.Capabilities{
		Fields:           fields,
		Comments:         true,
		InternalComments: !t.opts.NoInternalComments,
		EditComments:     true,
		DeleteComments:   true,
		Webhooks:         t.opts.WebhookSecret != "",
		Hierarchy:        true,
	}
}

// Get implements connectors.Connector.
func (t *Tracker) Get(ctx context.Context, id string) (connectors.Record, error) {
	if err := t.call(ctx, opGet, id, id); err != nil {
		return connectors.Record{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	r := t.records[id]
	if r == nil {
		return connectors.Record{}, t.notFound("get", id)
	}
	return t.export(r, true), nil
}

// FindByMarker implements connectors.Connector: the oldest record
// carrying marker, seen the moment it was written.
func (t *Tracker) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	if err := t.call(ctx, opFindByMarker, marker, ""); err != nil {
		return connectors.Record{}, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if ids := t.byMarker[marker]; len(ids) > 0 && marker != "" {
		return t.export(t.records[ids[0]], true), nil
	}
	return connectors.Record{}, fmt.Errorf("%s: no record carries marker %s: %w", t.opts.Name, marker, connectors.ErrNotFound)
}

// Create implements connectors.Connector.
func (t *Tracker) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	if err := t.call(ctx, opCreate, marker, ""); err != nil {
		return connectors.Record{}, err
	}
	if strings.TrimSpace(marker) == "" {
		return connectors.Record{}, connectors.Terminalf("%s: create: the marker is empty; every record backlogd creates carries its canonical id", t.opts.Name)
	}
	f, err := t.check("create "+marker, fields)
	if err != nil {
		return connectors.Record{}, err
	}
	t.mu.Lock()
	r := t.add(marker, f)
	out := t.export(r, true)
	t.mu.Unlock()
	t.deliver("record.created", r.id)
	if t.inj.crashed() {
		return connectors.Record{}, fmt.Errorf("%s: create %s: the connection was lost before the answer (injected): %w", t.opts.Name, marker, ErrInjected)
	}
	return out, nil
}

// Update implements connectors.Connector: only the given fields change,
// and a version other than the record's is refused with ErrConflict. A
// marker is set in the same call, which counts as one update; like any
// change it moves the record's version, and the marker the record
// already carries changes nothing.
func (t *Tracker) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	if err := t.call(ctx, opUpdate, id, id); err != nil {
		return connectors.Record{}, err
	}
	f, err := t.check("update "+id, fields)
	if err != nil {
		return connectors.Record{}, err
	}
	marker = strings.TrimSpace(marker)
	t.mu.Lock()
	r := t.records[id]
	if r == nil {
		t.mu.Unlock()
		return connectors.Record{}, t.notFound("update", id)
	}
	if version != "" && version != r.vstring {
		cur := r.version
		t.mu.Unlock()
		return connectors.Record{}, fmt.Errorf("%s: update %s: version %s is stale, the record is at %d: %w", t.opts.Name, id, version, cur, connectors.ErrConflict)
	}
	changed := t.apply(r, f)
	if marker != "" && r.marker != marker {
		t.unmark(r)
		r.marker = marker
		t.mark(r)
		if !changed {
			t.touch(r)
		}
		changed = true
	}
	out := t.export(r, true)
	t.mu.Unlock()
	if changed {
		t.deliver("record.updated", id)
	}
	return out, nil
}

// CreateComment implements connectors.Connector.
func (t *Tracker) CreateComment(ctx context.Context, recordID string, c connectors.Comment) (connectors.Comment, error) {
	if err := t.call(ctx, opCreateComment, recordID, recordID); err != nil {
		return connectors.Comment{}, err
	}
	if c.Internal && t.opts.NoInternalComments {
		return connectors.Comment{}, connectors.Terminalf("%s: comment on %s: this tracker cannot hide comments and this one is internal; it was not sent", t.opts.Name, recordID)
	}
	c.Author = t.opts.User
	return t.addComment(recordID, c)
}

// UpdateComment implements connectors.Connector.
func (t *Tracker) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	if err := t.call(ctx, opUpdateComment, commentID, recordID); err != nil {
		return err
	}
	t.mu.Lock()
	r, i, err := t.comment(recordID, commentID)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	if r.comments[i].Body == body {
		t.mu.Unlock()
		return nil
	}
	r.comments[i].Body = body
	t.touch(r)
	r.comments[i].Updated = r.updated
	t.mu.Unlock()
	t.deliver("comment.updated", recordID)
	return nil
}

// DeleteComment implements connectors.Connector.
func (t *Tracker) DeleteComment(ctx context.Context, recordID, commentID string) error {
	if err := t.call(ctx, opDeleteComment, commentID, recordID); err != nil {
		return err
	}
	t.mu.Lock()
	r, i, err := t.comment(recordID, commentID)
	if err != nil {
		t.mu.Unlock()
		return err
	}
	r.comments = slices.Delete(r.comments, i, i+1)
	t.touch(r)
	t.mu.Unlock()
	t.deliver("comment.deleted", recordID)
	return nil
}

// --- internals; t.mu is held where noted -------------------------------

func (t *Tracker) notFound(op, id string) error {
	return fmt.Errorf("%s: %s %s: no such record: %w", t.opts.Name, op, id, connectors.ErrNotFound)
}

// add stores a new record; t.mu is held.
func (t *Tracker) add(marker string, f connectors.Fields) *record {
	for k, v := range f {
		if len(v) == 0 {
			delete(f, k)
		}
	}
	t.lastID++
	now := t.now()
	id := strconv.FormatInt(t.lastID, 10)
	r := &record{id: id, key: t.opts.KeyPrefix + "-" + id, url: "memory://" + t.opts.Name + "/records/" + id,
		n: t.lastID, marker: marker, fields: f, created: now, updated: now}
	t.records[r.id] = r
	t.mark(r)
	t.bump(r)
	return r
}

// apply writes fields to r and reports whether anything changed; t.mu
// is held.
func (t *Tracker) apply(r *record, f connectors.Fields) bool {
	changed := false
	for name, vs := range f {
		if slices.Equal(r.fields[name], vs) {
			continue
		}
		changed = true
		if len(vs) == 0 {
			delete(r.fields, name)
		} else {
			r.fields[name] = vs
		}
	}
	if changed {
		t.touch(r)
	}
	return changed
}

// touch records a change of r: a new version, updated time and place in
// the change sequence; t.mu is held.
func (t *Tracker) touch(r *record) {
	r.updated = t.now()
	t.bump(r)
}

func (t *Tracker) bump(r *record) {
	r.version++
	r.vstring = strconv.FormatInt(r.version, 10)
	t.seq++
	if r.seq != 0 {
		t.stale++
	}
	r.seq = t.seq
	t.log = append(t.log, entry{seq: r.seq, id: r.id})
	t.compact()
}

func (t *Tracker) mark(r *record) {
	if r.marker != "" {
		t.byMarker[r.marker] = append(t.byMarker[r.marker], r.id)
	}
}

func (t *Tracker) unmark(r *record) {
	if r.marker == "" {
		return
	}
	ids := slices.DeleteFunc(t.byMarker[r.marker], func(id string) bool { return id == r.id })
	if len(ids) == 0 {
		delete(t.byMarker, r.marker)
	} else {
		t.byMarker[r.marker] = ids
	}
}

// remove deletes a record; t.mu is held.
func (t *Tracker) remove(r *record) {
	t.unmark(r)
	delete(t.records, r.id)
	t.stale++
	t.compact()
}

// comment finds a comment; t.mu is held.
func (t *Tracker) comment(recordID, commentID string) (*record, int, error) {
	r := t.records[recordID]
	if r == nil {
		return nil, 0, t.notFound("comment on", recordID)
	}
	i := slices.IndexFunc(r.comments, func(c connectors.Comment) bool { return c.ID == commentID })
	if i < 0 {
		return nil, 0, fmt.Errorf("%s: record %s has no comment %s: %w", t.opts.Name, recordID, commentID, connectors.ErrNotFound)
	}
	return r, i, nil
}

func (t *Tracker) addComment(recordID string, c connectors.Comment) (connectors.Comment, error) {
	t.mu.Lock()
	r := t.records[recordID]
	if r == nil {
		t.mu.Unlock()
		return connectors.Comment{}, t.notFound("comment on", recordID)
	}
	t.lastNote++
	t.touch(r)
	c.ID = "c" + strconv.FormatInt(t.lastNote, 10)
	c.Created, c.Updated = r.updated, r.updated
	r.comments = append(r.comments, c)
	t.mu.Unlock()
	t.deliver("comment.created", recordID)
	return c, nil
}

// export copies a record out; t.mu is held (read or write).
func (t *Tracker) export(r *record, comments bool) connectors.Record {
	out := connectors.Record{
		ID:      r.id,
		Key:     r.key,
		URL:     r.url,
		Marker:  r.marker,
		Fields:  cloneFields(r.fields),
		Version: r.vstring,
		Created: r.created,
		Updated: r.updated,
	}
	if comments {
		out.Comments = slices.Clone(r.comments)
		if out.Comments == nil {
			out.Comments = []connectors.Comment{}
		}
	}
	return out
}

// cloneFields copies fields with one backing array for every value, so a
// read costs two allocations whatever the number of fields. Each value
// slice is capped, so appending to one never writes into the next.
func cloneFields(f connectors.Fields) connectors.Fields {
	n := 0
	for _, v := range f {
		n += len(v)
	}
	out := make(connectors.Fields, len(f))
	slab := make([]string, n)
	i := 0
	for k, v := range f {
		j := i + copy(slab[i:], v)
		out[k] = slab[i:j:j]
		i = j
	}
	return out
}

// check normalises fields for a write (a copy without empty values) and,
// when fields are declared, refuses what a strict tracker would.
func (t *Tracker) check(op string, fields connectors.Fields) (connectors.Fields, error) {
	out := normalise(fields)
	if len(t.opts.Fields) == 0 {
		return out, nil
	}
	var errs []string
	for _, name := range out.Names() {
		vs := out[name]
		i := slices.IndexFunc(t.opts.Fields, func(f connectors.FieldSpec) bool { return f.Name == name })
		if i < 0 {
			errs = append(errs, fmt.Sprintf("%q is not a field of this tracker", name))
			continue
		}
		spec := t.opts.Fields[i]
		switch {
		case spec.ReadOnly:
			errs = append(errs, fmt.Sprintf("%q is read-only", name))
		case !spec.Multi && len(vs) > 1:
			errs = append(errs, fmt.Sprintf("%q takes one value, got %d", name, len(vs)))
		}
		for _, v := range vs {
			if len(spec.Values) > 0 && !slices.Contains(spec.Values, v) {
				errs = append(errs, fmt.Sprintf("%q does not accept %q; use one of %s", name, v, strings.Join(spec.Values, ", ")))
			}
		}
	}
	if len(errs) > 0 {
		return nil, connectors.Terminalf("%s: %s: %s", t.opts.Name, op, strings.Join(errs, "; "))
	}
	return out, nil
}

// byNumber orders records by id number.
func byNumber(a, b *record) int { return cmp.Compare(a.n, b.n) }
