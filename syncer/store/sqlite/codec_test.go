package sqlite

import (
	"bytes"
	"testing"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

func TestFieldsEncoding(t *testing.T) {
	for _, f := range []backlog.Fields{
		nil,
		{},
		{backlog.FieldTitle: ""},
		{backlog.FieldTitle: "Tïtle with ünïcode", backlog.FieldLabels: `["a","b"]`, backlog.FieldDescription: string(bytes.Repeat([]byte("x"), 300))},
	} {
		got, err := decodeFields(encodeFields(f))
		if err != nil {
			t.Fatalf("decode(encode(%v)): %v", f, err)
		}
		if (got == nil) != (f == nil) || !got.Equal(f) || len(got) != len(f) {
			t.Errorf("decode(encode(%#v)) = %#v", f, got)
		}
	}
	a := encodeFields(backlog.Fields{"b": "2", "a": "1", "c": "3"})
	b := encodeFields(backlog.Fields{"c": "3", "a": "1", "b": "2"})
	if !bytes.Equal(a, b) {
		t.Errorf("the same fields encode as %x and %x", a, b)
	}
}

func TestCommentLinksEncoding(t *testing.T) {
	cs := []store.CommentLink{{CommentID: "c1", RemoteID: "9", Base: "hello"}, {CommentID: "c2", RemoteID: "", Base: ""}}
	got, err := decodeComments(encodeComments(cs))
	if err != nil || len(got) != 2 || got[0] != cs[0] || got[1] != cs[1] {
		t.Errorf("decode(encode(%v)) = %v, %v", cs, got, err)
	}
	if got, err := decodeComments(encodeComments(nil)); got != nil || err != nil {
		t.Errorf("no comment links read back as %v, %v", got, err)
	}
}

func FuzzDecodeFields(f *testing.F) {
	f.Add(encodeFields(backlog.Fields{"title": "x", "status": "todo"}))
	f.Add([]byte{tagNil})
	f.Add([]byte{tagV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := decodeFields(b)
		if err != nil {
			return
		}
		again, err := decodeFields(encodeFields(fs))
		if err != nil || !again.Equal(fs) || (again == nil) != (fs == nil) {
			t.Errorf("%x decodes to %v, which does not survive a round trip: %v, %v", b, fs, again, err)
		}
		if _, err := decodeComments(b); err != nil {
			return
		}
	})
}

func TestIDNumber(t *testing.T) {
	for id, want := range map[string]int64{"BL-42": 42, "BL-0": 0, "ACME-7": 7, "X-Y-3": 3, "": 0, "BL-": 0, "BL--3": 3, "BL-99999999999999999999": 0, "plain": 0} {
		if got := idNumber(id); got != want {
			t.Errorf("idNumber(%q) = %d, want %d", id, got, want)
		}
	}
}
