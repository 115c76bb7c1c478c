package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Connector is a tracker that is a directory of YAML files, one per record.
// It is safe for concurrent use; one process should write a directory at
// a time (a person's editor aside).
type Connector struct {
	dir      string
	abs      string
	pageSize int
	log      *slog.Logger
	now      func() time.Time
	racy     time.Duration

	// wmu serializes writes, so a read-modify-write of a file and the
	// choice of a new file's name are never interleaved.
	wmu sync.Mutex

	// mu guards the index below.
	mu      sync.Mutex
	idx     map[string]*entry
	gen     uint64 // refreshes so far
	ignored map[string]bool
	// last is the cursor Changes returned last, decoded; its seen set is
	// never modified, only replaced.
	last struct {
		s  string
		cu cursor
	}

	refuse    atomic.Bool
	parses    atomic.Int64 // files parsed, for tests of the stat-first paths
	reads     atomic.Int64 // files the index read
	crashNext atomic.Bool
}

// Option configures New.
type Option func(*Connector)

// WithPageSize sets how many records a Changes page holds (default 100).
func WithPageSize(n int) Option { return func(c *Connector) { c.pageSize = n } }

// WithLogger sets where warnings about broken files go (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *Connector) {
		if l != nil {
			c.log = l
		}
	}
}

// WithClock sets the clock that stamps created and updated times.
func WithClock(now func() time.Time) Option { return func(c *Connector) { c.now = now } }

// DefaultPageSize is the page size of Changes when none is set.
const DefaultPageSize = 100

// New opens (creating it if missing) a directory of item files.
func New(dir string, opts ...Option) (*Connector, error) {
	c := &Connector{
		dir:      dir,
		pageSize: DefaultPageSize,
		log:      slog.New(slog.DiscardHandler),
		now:      time.Now,
		racy:     racyWindow,
		idx:      map[string]*entry{},
		ignored:  map[string]bool{},
	}
	for _, o := range opts {
		o(c)
	}
	if dir == "" {
		return nil, errors.New("file: no directory given; set `dir:` in the target's settings")
	}
	if c.pageSize < 1 || c.pageSize > MaxPageSize {
		return nil, fmt.Errorf("file: page_size %d is out of range; use 1 to %d", c.pageSize, MaxPageSize)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("file: create the backlog directory %s: %w; create it or fix `dir:` in the target's settings", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file: %s is not a directory; point `dir:` at a directory of item files", dir)
	}
	if c.abs, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	if n, err := removeStaleTemps(dir, 10*time.Minute); err == nil && n > 0 {
		c.log.Info("file: removed temporary files left by an interrupted write", "dir", dir, "count", n)
	}
	return c, nil
}

// refuseNext makes the next read or write of a file fail with a
// permission error, as a directory an administrator locked would
// (conformance hook: root, which tests often run as, ignores real
// permissions).
func (c *Connector) refuseNext() { c.refuse.Store(true) }

// readFile is readFile, failing once after refuseNext.
func (c *Connector) readFile(path string) ([]byte, fs.FileInfo, error) {
	if c.refuse.CompareAndSwap(true, false) {
		return nil, nil, &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}
	}
	return readFile(path)
}

// writeAtomic is writeAtomic, failing once after refuseNext.
func (c *Connector) writeAtomic(dir, name string, data []byte, perm fs.FileMode, create bool) error {
	if c.refuse.CompareAndSwap(true, false) {
		return &fs.PathError{Op: "open", Path: filepath.Join(dir, name), Err: syscall.EACCES}
	}
	return writeAtomic(dir, name, data, perm, create)
}

// crashAfterNextCreate makes the next Create write its file and then fail,
// as a daemon killed before it saw the answer would (conformance hook).
func (c *Connector) crashAfterNextCreate() { c.crashNext.Store(true) }

// Capabilities implements connectors.Connector. No native field list: any
// key of a file is a field, and mapping treats the tracker as free-form.
func (c *Connector) Capabilities() connectors.Capabilities {
	return connectors.Capabilities{
		Comments:         true,
		InternalComments: true,
		EditComments:     true,
		DeleteComments:   true,
		Hierarchy:        true,
	}
}

func (c *Connector) path(stem string) string { return filepath.Join(c.dir, stem+".yaml") }

func (c *Connector) parse(path string, raw []byte) (*item, error) {
	c.parses.Add(1)
	return parse(path, raw)
}

func (c *Connector) url(stem string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(c.abs, stem+".yaml"))}).String()
}

// record turns a parsed file into a Record. fi is the file's stat data,
// whose modification time stands in for times the file does not state.
func (c *Connector) record(stem string, it *item, fi fs.FileInfo) connectors.Record {
	// Times are kept to the second in files; so are those read from one.
	mt := fi.ModTime().UTC().Truncate(time.Second)
	rec := connectors.Record{
		ID:       stem,
		Key:      stem,
		URL:      c.url(stem),
		Marker:   it.marker,
		Fields:   it.fields,
		Comments: it.comments,
		Version:  it.hash,
		Created:  it.created,
		Updated:  it.updated,
	}
	if rec.Created.IsZero() {
		rec.Created = mt
	}
	// The updated key is backlogd's own stamp; it is only the truth while
	// the file is as backlogd wrote it. After a hand edit (the content no
	// longer matches the version stamp) the file's mtime says when.
	if it.stamp != it.hash || rec.Updated.IsZero() {
		if mt.After(rec.Updated) {
			rec.Updated = mt
		}
	}
	for i := range rec.Comments {
		if rec.Comments[i].Created.IsZero() {
			rec.Comments[i].Created = rec.Created
		}
		if rec.Comments[i].Updated.IsZero() {
			rec.Comments[i].Updated = rec.Comments[i].Created
		}
	}
	return rec
}

func brokenErr(op, id string, err error) error {
	return connectors.Terminal(fmt.Errorf("file: %s %s: %w; backlogd skips this file and will not write to it until it parses again", op, id, err))
}

func notFound(op, id, path string) error {
	return fmt.Errorf("file: %s %s: %s does not exist: %w", op, id, path, connectors.ErrNotFound)
}

// load reads and parses record id for op.
func (c *Connector) load(op, id string) (*item, fs.FileInfo, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("file: %s %q: not a record id (ids are file names without .yaml): %w", op, id, connectors.ErrNotFound)
	}
	path := c.path(id)
	raw, fi, err := c.readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, notFound(op, id, path)
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, nil, connectors.Terminal(fmt.Errorf("file: %s %s: %w; give the user backlogd runs as read and write access to %s", op, id, err, c.dir))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("file: %s %s: %w", op, id, err)
	}
	it, err := c.parse(path, raw)
	if err != nil {
		return nil, nil, brokenErr(op, id, err)
	}
	return it, fi, nil
}

// Get implements connectors.Connector. It always reads the file itself.
func (c *Connector) Get(ctx context.Context, id string) (connectors.Record, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Record{}, err
	}
	it, fi, err := c.load("get", id)
	if err != nil {
		return connectors.Record{}, err
	}
	return c.record(id, it, fi), nil
}

func checkFields(op string, fields connectors.Fields) error {
	for _, name := range fields.Names() {
		if err := checkFieldName(name); err != nil {
			return connectors.Terminal(fmt.Errorf("file: %s: %w", op, err))
		}
		if err := checkValues(name, fields[name]); err != nil {
			return connectors.Terminal(fmt.Errorf("file: %s: %w", op, err))
		}
	}
	return nil
}

func applyFields(it *item, fields connectors.Fields) error {
	for _, name := range fields.Names() {
		if err := setField(it.root, name, fields[name]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Connector) stamp() time.Time { return c.now().UTC().Truncate(time.Second) }

// Create implements connectors.Connector. The file is named after the
// marker (BL-42.yaml), or BL-42-2.yaml when that name is taken.
func (c *Connector) Create(ctx context.Context, marker string, fields connectors.Fields) (connectors.Record, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Record{}, err
	}
	marker = strings.TrimSpace(marker)
	if err := checkFields("create "+marker, fields); err != nil {
		return connectors.Record{}, err
	}
	it := newItem()
	if marker != "" {
		setKey(it.root, keyID, marker)
		it.marker = marker
	}
	if err := applyFields(it, fields); err != nil {
		return connectors.Record{}, connectors.Terminal(fmt.Errorf("file: create %s: %w", marker, err))
	}
	now := formatTime(c.stamp())
	setKey(it.root, keyCreated, now)
	setKey(it.root, keyUpdated, now)

	c.wmu.Lock()
	defer c.wmu.Unlock()
	base := stemFor(marker)
	for n := 1; n <= 1000; n++ {
		stem := base
		if n > 1 {
			stem = base + "-" + strconv.Itoa(n)
		}
		path := c.path(stem)
		if _, err := os.Lstat(path); err == nil {
			continue
		}
		raw, back, err := render(path, it)
		if err != nil {
			return connectors.Record{}, connectors.Terminal(fmt.Errorf("file: create %s: %w", marker, err))
		}
		err = c.writeAtomic(c.dir, stem+".yaml", raw, 0o644, true)
		if errors.Is(err, errExists) {
			continue
		}
		if err != nil {
			return connectors.Record{}, classifyWrite(path, err)
		}
		c.wrote(stem, raw, back)
		if c.crashNext.CompareAndSwap(true, false) {
			return connectors.Record{}, fmt.Errorf("file: create %s: simulated crash after writing %s", marker, path)
		}
		fi, err := os.Stat(path)
		if err != nil {
			return connectors.Record{}, fmt.Errorf("file: create %s: read back %s: %w", marker, path, err)
		}
		return c.record(stem, back, fi), nil
	}
	return connectors.Record{}, fmt.Errorf("file: create %s: every name from %s.yaml to %s-1000.yaml is taken in %s; clean up the directory", marker, base, base, c.dir)
}

// wrote tells the index about a file backlogd just wrote, so FindByMarker
// knows its marker without reading it again.
func (c *Connector) wrote(stem string, raw []byte, it *item) {
	fi, err := os.Stat(c.path(stem))
	if err != nil {
		return
	}
	st := statOf(fi)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idx[stem] = &entry{
		stem: stem, st: st, c: changeTime(st), gen: c.gen,
		loaded: true, rawHash: rawHash(raw), readAt: time.Now().UnixNano(),
		markerKnown: true, marker: it.marker,
	}
}

// commit writes an edited item back over the file it was read from.
// was is the file's stat data at that read: when the file changed since
// (a person saved it in the meantime), commit writes nothing and returns
// ErrConflict, so the syncer reads it again instead of overwriting.
func (c *Connector) commit(op, id string, it *item, was fs.FileInfo) (connectors.Record, error) {
	path := c.path(id)
	if it.created.IsZero() {
		// Keep the creation time the record has been reporting.
		setKey(it.root, keyCreated, formatTime(was.ModTime().UTC().Truncate(time.Second)))
	}
	setKey(it.root, keyUpdated, formatTime(c.stamp()))
	raw, back, err := render(path, it)
	if err != nil {
		return connectors.Record{}, connectors.Terminal(fmt.Errorf("file: %s %s: %w", op, id, err))
	}
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved // write through a link instead of replacing it
	}
	now, err := os.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return connectors.Record{}, notFound(op, id, path)
	}
	if err != nil {
		return connectors.Record{}, fmt.Errorf("file: %s %s: %w", op, id, err)
	}
	if statOf(now) != statOf(was) {
		return connectors.Record{}, fmt.Errorf("file: %s %s: %s changed on disk while backlogd was updating it; read it again: %w", op, id, path, connectors.ErrConflict)
	}
	if err := c.writeAtomic(filepath.Dir(target), filepath.Base(target), raw, was.Mode().Perm(), false); err != nil {
		return connectors.Record{}, classifyWrite(path, err)
	}
	c.wrote(id, raw, back)
	fi, err := os.Stat(path)
	if err != nil {
		return connectors.Record{}, fmt.Errorf("file: %s %s: read back: %w", op, id, err)
	}
	return c.record(id, back, fi), nil
}

// edit is the read-modify-write under the write lock that every update
// goes through. change edits the tree and reports whether it changed
// anything; nothing changed means nothing is written.
func (c *Connector) edit(op, id, version string, change func(it *item) (bool, error)) (connectors.Record, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	it, fi, err := c.load(op, id)
	if err != nil {
		return connectors.Record{}, err
	}
	if version != "" && version != it.hash {
		return connectors.Record{}, fmt.Errorf("file: %s %s: the file changed since version %s was read (now %s); read it again: %w", op, id, version, it.hash, connectors.ErrConflict)
	}
	stampCommentIDs(it)
	changed, err := change(it)
	if err != nil {
		return connectors.Record{}, err
	}
	if !changed {
		return c.record(id, it, fi), nil
	}
	return c.commit(op, id, it, fi)
}

// Update implements connectors.Connector. Keys the update does not name
// (other fields, a person's notes and comments in the file) stay as they
// are. A stale version is refused with ErrConflict, and a file that does
// not parse with a TerminalError: it is never overwritten. A marker is
// written as `id: MARKER` in the same write of the file.
func (c *Connector) Update(ctx context.Context, id, version string, fields connectors.Fields, marker string) (connectors.Record, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Record{}, err
	}
	if err := checkFields("update "+id, fields); err != nil {
		return connectors.Record{}, err
	}
	marker = strings.TrimSpace(marker)
	return c.edit("update", id, version, func(it *item) (bool, error) {
		if err := applyFields(it, fields); err != nil {
			return false, connectors.Terminal(fmt.Errorf("file: update %s: %w", c.path(id), err))
		}
		after, err := treeFields(it)
		if err != nil {
			return false, connectors.Terminal(fmt.Errorf("file: update %s: %w", c.path(id), err))
		}
		marked := marker != "" && it.marker != marker
		if marked {
			setKey(it.root, keyID, marker)
			it.marker = marker
		}
		return marked || !maps.EqualFunc(after, it.fields, slices.Equal), nil
	})
}

// nextCommentID returns c<N>, N one more than the largest in use.
func nextCommentID(cs []connectors.Comment) string {
	n := 0
	for _, cm := range cs {
		if v, err := strconv.Atoi(strings.TrimPrefix(cm.ID, "c")); err == nil && strings.HasPrefix(cm.ID, "c") {
			n = max(n, v)
		}
	}
	return "c" + strconv.Itoa(n+1)
}

// CreateComment implements connectors.Connector. The comment keeps the
// author and times it comes with (a file can say anything); a missing
// creation time is now.
func (c *Connector) CreateComment(ctx context.Context, recordID string, cm connectors.Comment) (connectors.Comment, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Comment{}, err
	}
	for _, s := range []string{cm.Author, cm.Body} {
		if err := checkValues("comment", []string{s}); err != nil {
			return connectors.Comment{}, connectors.Terminal(fmt.Errorf("file: add comment to %s: %w", recordID, err))
		}
	}
	var out connectors.Comment
	rec, err := c.edit("add comment to", recordID, "", func(it *item) (bool, error) {
		cm.ID = nextCommentID(it.comments)
		if cm.Created.IsZero() {
			cm.Created = c.stamp()
		}
		if cm.Updated.IsZero() {
			cm.Updated = cm.Created
		}
		seq := commentsNode(it.root, true)
		seq.Content = append(seq.Content, commentMapping(cm))
		out = cm
		return true, nil
	})
	if err != nil {
		return connectors.Comment{}, err
	}
	for _, rc := range rec.Comments {
		if rc.ID == out.ID {
			return rc, nil
		}
	}
	return out, nil
}

// commentAt returns the mapping of comment id in the file, or -1.
func commentAt(it *item, id string) int {
	for i, cm := range it.comments {
		if cm.ID == id {
			return i
		}
	}
	return -1
}

// UpdateComment implements connectors.Connector.
func (c *Connector) UpdateComment(ctx context.Context, recordID, commentID, body string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkValues("comment", []string{body}); err != nil {
		return connectors.Terminal(fmt.Errorf("file: edit comment %s of %s: %w", commentID, recordID, err))
	}
	_, err := c.edit("edit comment of", recordID, "", func(it *item) (bool, error) {
		i := commentAt(it, commentID)
		if i < 0 {
			return false, fmt.Errorf("file: edit comment %s of %s: no such comment: %w", commentID, recordID, connectors.ErrNotFound)
		}
		if it.comments[i].Body == body {
			return false, nil
		}
		cn := commentsNode(it.root, false).Content[i]
		setKey(cn, "body", body)
		setKey(cn, "updated", formatTime(c.stamp()))
		return true, nil
	})
	return err
}

// DeleteComment implements connectors.Connector.
func (c *Connector) DeleteComment(ctx context.Context, recordID, commentID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := c.edit("delete comment of", recordID, "", func(it *item) (bool, error) {
		i := commentAt(it, commentID)
		if i < 0 {
			return false, fmt.Errorf("file: delete comment %s of %s: no such comment: %w", commentID, recordID, connectors.ErrNotFound)
		}
		seq := commentsNode(it.root, false)
		seq.Content = slices.Delete(seq.Content, i, i+1)
		if len(seq.Content) == 0 {
			deleteKey(it.root, keyComments)
		}
		return true, nil
	})
	return err
}

// FindByMarker implements connectors.Connector. The index is refreshed
// from stat data on every call, so a file written a moment ago (by
// backlogd or a person) is seen; only files that changed are parsed.
func (c *Connector) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	marker = strings.TrimSpace(marker)
	if marker == "" {
		return connectors.Record{}, fmt.Errorf("file: find by marker: empty marker: %w", connectors.ErrNotFound)
	}
	for range 3 {
		if err := ctx.Err(); err != nil {
			return connectors.Record{}, err
		}
		hits, suspects, err := c.lookup(ctx, marker)
		if err != nil {
			return connectors.Record{}, err
		}
		if len(hits) == 0 {
			if len(suspects) > 0 {
				return connectors.Record{}, connectors.Terminal(fmt.Errorf("file: find %s: %v; that file may carry id %s: fix it so backlogd does not create the item a second time", marker, suspects[0], marker))
			}
			return connectors.Record{}, fmt.Errorf("file: no file in %s carries id %s: %w", c.dir, marker, connectors.ErrNotFound)
		}
		// A person may have copied a file: prefer the one named after
		// the marker, then the first by name.
		stem := hits[0]
		if slices.Contains(hits, stemFor(marker)) {
			stem = stemFor(marker)
		}
		rec, err := c.Get(ctx, stem)
		if err == nil && rec.Marker == marker {
			return rec, nil
		}
		if err != nil && !errors.Is(err, connectors.ErrNotFound) {
			return connectors.Record{}, err
		}
		// Changed or removed since the index looked: look again.
	}
	return connectors.Record{}, fmt.Errorf("file: find %s: the files in %s keep changing; try again", marker, c.dir)
}

// lookup returns the stems of files carrying marker, sorted, and the
// parse errors of broken files that seem to.
func (c *Connector) lookup(ctx context.Context, marker string) ([]string, []*ParseError, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(); err != nil {
		return nil, nil, err
	}
	var hits []string
	var suspects []*ParseError
	for _, e := range c.idx {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if err := c.ensureMarker(e); err != nil {
			if errors.Is(err, errGone) {
				continue
			}
			return nil, nil, fmt.Errorf("file: find %s: read %s: %w", marker, c.path(e.stem), err)
		}
		switch {
		case e.marker == marker:
			hits = append(hits, e.stem)
		case e.broken != nil && e.suspect == marker:
			suspects = append(suspects, e.broken)
		}
	}
	slices.Sort(hits)
	return hits, suspects, nil
}
