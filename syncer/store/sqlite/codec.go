package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// Links are read on every reconcile, so their base and comment links are
// stored in a small binary form rather than JSON: decoding a base of a
// dozen fields from JSON costs more than the SQL that reads it. Both
// forms start with a tag byte so that a nil value (no agreed state) and
// an empty one stay distinct, and so that the form can change later.
const (
	tagNil byte = 0 // nil value
	tagV1  byte = 1 // uvarint count, then length-prefixed strings
)

var errCorrupt = errors.New("stored value is corrupt")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeFields encodes a base with its keys sorted, so the same value
// always gives the same bytes.
func encodeFields(f backlog.Fields) []byte {
	if f == nil {
		return []byte{tagNil}
	}
	n := 1 + binary.MaxVarintLen64
	for k, v := range f {
		n += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, tagV1)
	b = binary.AppendUvarint(b, uint64(len(f)))
	for _, k := range f.Names() {
		b = appendString(b, string(k))
		b = appendString(b, f[k])
	}
	return b
}

// reader walks an encoded value. The strings it returns share one
// allocation, made once per value.
type reader struct {
	s   string
	off int
	err error
}

func newReader(b []byte) (*reader, byte) {
	if len(b) == 0 {
		return &reader{err: errCorrupt}, 0
	}
	return &reader{s: string(b[1:])}, b[0]
}

func (r *reader) uvarint() int {
	if r.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; ; i++ {
		if r.off >= len(r.s) || i == binary.MaxVarintLen64 {
			r.err = errCorrupt
			return 0
		}
		c := r.s[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
		shift += 7
	}
	if v > uint64(len(r.s)-r.off) {
		// No count or length can exceed the bytes that are left.
		r.err = errCorrupt
		return 0
	}
	return int(v)
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) done() error {
	if r.err == nil && r.off != len(r.s) {
		r.err = errCorrupt
	}
	return r.err
}

func decodeFields(b []byte) (backlog.Fields, error) {
	r, tag := newReader(b)
	switch {
	case r.err != nil:
		return nil, r.err
	case tag == tagNil:
		return nil, r.done()
	case tag != tagV1:
		return nil, fmt.Errorf("base: unknown encoding %d", tag)
	}
	n := r.uvarint()
	f := make(backlog.Fields, n)
	for range n {
		k := r.str()
		f[backlog.Field(k)] = r.str()
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	return f, nil
}

// encodeComments returns nil (stored as NULL) for no comment links.
func encodeComments(cs []store.CommentLink) []byte {
	if len(cs) == 0 {
		return nil
	}
	n := 1 + binary.MaxVarintLen64
	for _, c := range cs {
		n += len(c.CommentID) + len(c.RemoteID) + len(c.Base) + 3*binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, tagV1)
	b = binary.AppendUvarint(b, uint64(len(cs)))
	for _, c := range cs {
		b = appendString(b, c.CommentID)
		b = appendString(b, c.RemoteID)
		b = appendString(b, c.Base)
	}
	return b
}

func decodeComments(b []byte) ([]store.CommentLink, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r, tag := newReader(b)
	if tag != tagV1 {
		return nil, fmt.Errorf("comment links: unknown encoding %d", tag)
	}
	n := r.uvarint()
	cs := make([]store.CommentLink, 0, n)
	for range n {
		cs = append(cs, store.CommentLink{CommentID: r.str(), RemoteID: r.str(), Base: r.str()})
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("comment links: %w", err)
	}
	return cs, nil
}

// Times are stored as Unix nanoseconds (UTC), which keep every digit and
// sort; the zero time is NULL. The few times int64 nanoseconds cannot hold
// (before 1678 or after 2261) are stored as RFC 3339 text instead.
func timeValue(what string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	t = t.UTC()
	if n := t.UnixNano(); time.Unix(0, n).Equal(t) {
		return n, nil
	}
	if y := t.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("%s %s is outside the years 0000-9999 a time can be stored with", what, t)
	}
	return t.Format(time.RFC3339Nano), nil
}

// timeScan reads a column written by timeValue.
type timeScan struct{ t time.Time }

// Scan implements sql.Scanner.
func (ts *timeScan) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		ts.t = time.Time{}
	case int64:
		ts.t = time.Unix(0, v).UTC()
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	default:
		return fmt.Errorf("time column holds a %T", src)
	}
	return nil
}

func (ts *timeScan) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	ts.t = t.UTC()
	return nil
}

// idNumber is the number an id ends with (42 for BL-42), which orders
// items; 0 when there is none.
func idNumber(id string) int64 {
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// normalizeItem returns a copy of it as it is stored: comment times in
// UTC, without the store's own Version and Updated.
func normalizeItem(it backlog.Item) backlog.Item {
	it.Comments = slices.Clone(it.Comments)
	for i := range it.Comments {
		if !it.Comments[i].Created.IsZero() {
			it.Comments[i].Created = it.Comments[i].Created.UTC()
		}
	}
	return it
}
