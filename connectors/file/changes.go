package file

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// overlap is how far behind its high-water mark a listing starts again.
// Files whose change time falls in it are checked against the content
// hashes the cursor remembers, so a second write within one timestamp
// tick of a file system with coarse times (1 s, 2 s on FAT) is listed,
// and nothing is listed twice.
const overlap = racyWindow

// cursor is where Changes continues: the change time (unix ns) listed up
// to, and the raw content hash of every file listed whose change time is
// within overlap of it. Encoded as "v1." + base64url(JSON), so a restart
// continues where the last process stopped.
type cursor struct {
	T    int64             `json:"t"`
	Seen map[string]string `json:"s,omitempty"`
}

const cursorPrefix = "v1."

func parseCursor(s string) (cursor, error) {
	cu := cursor{Seen: map[string]string{}}
	if s == "" {
		return cu, nil
	}
	b64, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return cu, fmt.Errorf("cursor %.40q is not a file connector cursor", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return cu, fmt.Errorf("cursor %.40q: %w", s, err)
	}
	if err := json.Unmarshal(b, &cu); err != nil {
		return cu, fmt.Errorf("cursor %.40q: %w", s, err)
	}
	if cu.Seen == nil {
		cu.Seen = map[string]string{}
	}
	return cu, nil
}

func (cu cursor) String() string {
	b, _ := json.Marshal(cu) // strings and an int always marshal
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Changes implements connectors.Connector: item files by change time,
// oldest first. An idle poll costs one ReadDir and one lstat per file:
// files are read only when their stat data moved (or sit in the overlap,
// where their hashes are already known), and parsed only when their
// content is new to the cursor. Files that do not parse are skipped with
// a warning, once per content; they are listed when a person fixes them.
// Deleted files are not reported here: Get returns ErrNotFound for them.
func (c *Connector) Changes(ctx context.Context, s string) (connectors.Page, error) {
	if err := ctx.Err(); err != nil {
		return connectors.Page{}, err
	}
	now := time.Now().UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()

	// The syncer hands back the cursor it got: reuse the decoded one, and
	// copy its seen set only when it changes, so an idle poll neither
	// decodes nor encodes it.
	var cu cursor
	owned := false
	if s != "" && s == c.last.s {
		cu = c.last.cu
	} else {
		var err error
		if cu, err = parseCursor(s); err != nil {
			// A cursor from another connector or version: list everything
			// again; the syncer drops what it already knows.
			c.log.Warn("file: unreadable cursor; listing every file again", "dir", c.dir, "error", err)
			cu = cursor{Seen: map[string]string{}}
		}
		owned = true
	}
	see := func(stem, hash string) {
		if !owned {
			cu.Seen, owned = maps.Clone(cu.Seen), true
		}
		cu.Seen[stem] = hash
	}

	if err := c.refresh(); err != nil {
		return connectors.Page{}, err
	}
	from := cu.T - int64(overlap)
	var cands []*entry
	for _, e := range c.idx {
		if cu.T == 0 || e.c >= from {
			cands = append(cands, e)
		}
	}
	slices.SortFunc(cands, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.c, b.c), strings.Compare(a.stem, b.stem))
	})

	var page connectors.Page
	high := cu.T
	for i, e := range cands {
		if err := ctx.Err(); err != nil {
			return connectors.Page{}, err
		}
		raw, err := c.ensureHash(e)
		if errors.Is(err, errGone) {
			continue
		}
		if err != nil {
			return connectors.Page{}, fmt.Errorf("file: list changes: read %s: %w", c.path(e.stem), err)
		}
		high = max(high, e.c)
		if cu.Seen[e.stem] == e.rawHash {
			continue
		}
		if raw == nil {
			if raw, err = c.readEntry(e); errors.Is(err, errGone) {
				continue
			} else if err != nil {
				return connectors.Page{}, fmt.Errorf("file: list changes: read %s: %w", c.path(e.stem), err)
			}
		}
		see(e.stem, e.rawHash)
		it, perr := c.learn(e, raw)
		if perr != nil {
			if e.warned != e.rawHash {
				e.warned = e.rawHash
				c.log.Warn("file: skipping a file that does not parse; fix it by hand (backlogd will not write to it until then)",
					"file", e.broken.File, "line", e.broken.Line, "error", e.broken.Msg)
			}
			continue
		}
		fi, err := os.Stat(c.path(e.stem))
		if err != nil {
			continue // removed since it was read
		}
		page.Records = append(page.Records, c.record(e.stem, it, fi))
		if len(page.Records) == c.pageSize {
			page.More = i < len(cands)-1
			break
		}
	}
	// A change time in the future (a skewed clock) must not move the
	// mark past files written now; its hash stays in Seen instead.
	t := min(high, now)
	var drop []string
	for stem := range cu.Seen {
		if e := c.idx[stem]; e == nil || e.c < t-int64(overlap) {
			drop = append(drop, stem)
		}
	}
	if !owned && t == cu.T && len(drop) == 0 {
		page.Cursor = s // nothing moved
		return page, nil
	}
	if !owned {
		cu.Seen = maps.Clone(cu.Seen)
	}
	cu.T = t
	for _, stem := range drop {
		delete(cu.Seen, stem)
	}
	page.Cursor = cu.String()
	c.last.s, c.last.cu = page.Cursor, cu
	return page, nil
}
