package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// entry is what the index knows of one item file. Stat data is refreshed
// on every listing; the content fields are filled when the file is read
// and trusted until its stat data changes.
type entry struct {
	stem string
	st   fileStat
	// c is the file's change time, max(mtime, ctime) in unix ns: the
	// order of Changes. The inode change time cannot be set back by a
	// tool restoring an old mtime (cp -p, tar, rsync -t), so a file
	// changed by one is still listed.
	c int64

	// loaded: rawHash describes the content at st (unless stale).
	loaded bool
	// stale: the stat data moved since the content was read, or the read
	// was too close to the change time to trust (see racyWindow).
	stale   bool
	rawHash string
	readAt  int64 // wall clock (unix ns) just before the content was read

	// markerKnown: marker/broken/suspect describe rawHash.
	markerKnown bool
	marker      string
	broken      *ParseError
	// suspect is the id a line scan finds in a broken file: the file may
	// carry that marker once a person repairs it.
	suspect string

	warned string // rawHash a parse warning was logged for
	gen    uint64 // the refresh that last saw the file
}

// racyWindow is how close to a file's change time a read may be before
// the read cannot be trusted to hold the file's final content: a second
// write within one timestamp tick (coarse kernel clocks tick every few
// milliseconds; FAT counts in 2 s) leaves size and times unchanged. Such
// a file is read again, once the tick is surely over. Git calls this
// "racily clean".
const racyWindow = 2 * time.Second

func changeTime(st fileStat) int64 { return max(st.mtime, st.ctime) }

// isItemName reports whether a directory entry is an item file.
func isItemName(name string) (string, bool) {
	stem, ok := strings.CutSuffix(name, ".yaml")
	return stem, ok && validID(stem)
}

// validID reports whether id can name an item file in the directory (and
// cannot reach outside it).
func validID(id string) bool {
	return id != "" && len(id) <= 200 && !strings.HasPrefix(id, ".") &&
		!strings.ContainsAny(id, "/\\\x00") && filepath.Base(id) == id
}

// stemFor is the file name stem backlogd gives a new record: the marker
// (BL-42.yaml), with characters a file name should not hold replaced.
func stemFor(marker string) string {
	var b strings.Builder
	for _, r := range marker {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	if len(s) > 100 {
		s = s[:100]
	}
	if s == "" {
		return "item"
	}
	return s
}

// refresh brings the index in line with the directory: one ReadDir and
// one lstat per file, no reads. Caller holds c.mu.
func (c *Connector) refresh() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("file: list %s: %w", c.dir, err)
	}
	c.gen++
	for _, de := range des {
		name := de.Name()
		stem, ok := isItemName(name)
		if !ok {
			if strings.HasSuffix(name, ".yml") && !c.ignored[name] {
				c.ignored[name] = true
				c.log.Warn("file: ignoring a file that does not end in .yaml; rename it to make it a record", "file", filepath.Join(c.dir, name))
			}
			continue
		}
		fi, err := de.Info()
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			fi, err = os.Stat(filepath.Join(c.dir, name))
		}
		if err != nil || !fi.Mode().IsRegular() {
			continue // gone since ReadDir, a dangling link, a directory
		}
		st := statOf(fi)
		e := c.idx[stem]
		if e == nil {
			c.idx[stem] = &entry{stem: stem, st: st, c: changeTime(st), stale: true, gen: c.gen}
			continue
		}
		e.gen = c.gen
		if e.st != st {
			e.st, e.c, e.stale = st, changeTime(st), true
		} else if e.loaded && e.c >= e.readAt-int64(c.racy) {
			e.stale = true
		}
	}
	for stem, e := range c.idx {
		if e.gen != c.gen {
			delete(c.idx, stem)
		}
	}
	return nil
}

// errGone: the file disappeared between listing and reading.
var errGone = errors.New("file is gone")

// readEntry reads an entry's file and records its content hash. Caller
// holds c.mu.
func (c *Connector) readEntry(e *entry) ([]byte, error) {
	at := time.Now().UnixNano()
	c.reads.Add(1)
	raw, _, err := readFile(c.path(e.stem))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errGone
	}
	if err != nil {
		return nil, err
	}
	h := rawHash(raw)
	if h != e.rawHash {
		e.markerKnown = false
	}
	e.rawHash, e.readAt, e.loaded, e.stale = h, at, true, false
	return raw, nil
}

// ensureHash reads the entry when what the index knows may be out of
// date. It returns the bytes when it read them, nil when it did not need to.
func (c *Connector) ensureHash(e *entry) ([]byte, error) {
	if e.loaded && !e.stale {
		return nil, nil
	}
	return c.readEntry(e)
}

// ensureMarker makes e.marker (or e.broken) describe the file's current
// content, parsing only when the content changed.
func (c *Connector) ensureMarker(e *entry) error {
	raw, err := c.ensureHash(e)
	if err != nil || e.markerKnown {
		return err
	}
	if raw == nil {
		if raw, err = c.readEntry(e); err != nil {
			return err
		}
	}
	c.learn(e, raw)
	return nil
}

// learn parses raw (the entry's current content) for its marker.
func (c *Connector) learn(e *entry, raw []byte) (*item, error) {
	it, err := c.parse(c.path(e.stem), raw)
	e.markerKnown = true
	e.marker, e.broken, e.suspect = "", nil, ""
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			pe = &ParseError{File: c.path(e.stem), Msg: err.Error()}
		}
		e.broken = pe
		if m := suspectID.FindSubmatch(raw); m != nil {
			e.suspect = string(m[1])
		}
		return nil, pe
	}
	e.marker = it.marker
	return it, nil
}

var suspectID = regexp.MustCompile(`(?m)^id:[ \t]*["']?([^"'#\s]+)`)

func rawHash(raw []byte) string {
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:8])
}

// readFile reads at most maxFileSize+1 bytes of path, with its stat data.
func readFile(path string) ([]byte, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	return raw, fi, err
}
