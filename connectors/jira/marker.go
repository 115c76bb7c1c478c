package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// maxProbes bounds the keys FindByMarker reads past the newest known one.
const maxProbes = 100

// markerSeen is an issue seen carrying a marker. property says the
// entity property holds it; an issue with the marker label alone is most
// likely a clone (Jira's Clone copies labels, not entity properties), so
// it ranks below, and between equals the lowest id (the original) wins.
type markerSeen struct {
	id       string
	property bool
}

// better reports whether a ranks before b.
func (a markerSeen) better(b markerSeen) bool {
	if a.property != b.property {
		return a.property
	}
	return idLess(a.id, b.id)
}

// idLess orders issue ids numerically (Jira's ids are decimal).
func idLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// noteMarker remembers that issue id carries marker, unless an issue
// that ranks before it does.
func (c *Connector) noteMarker(marker, id string, property bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := markerSeen{id: id, property: property}
	if old, ok := c.markers[marker]; !ok || old.id == id || seen.better(old) {
		c.markers[marker] = seen
	}
}

// forgetMarker drops what the connector remembered of marker on issue id
// (gone, or a person moved the marker).
func (c *Connector) forgetMarker(marker, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.markers[marker].id == id {
		delete(c.markers, marker)
	}
}

// propertyMarker returns the canonical id in an issue's entity property,
// "" when it has none.
func propertyMarker(is *issue) string {
	raw, ok := is.Properties[markerProperty]
	if !ok {
		return ""
	}
	var p struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &p) != nil || !validMarker(p.ID) {
		return ""
	}
	return p.ID
}

// FindByMarker implements connectors.Connector. It must see an issue
// created a moment ago, before a crash lost the answer, and Jira's search
// index lags behind writes by seconds; the entity property, which holds
// the marker for sure, is not searchable at all for an API-token client
// (issue.property[…] only works for properties an app indexes, and
// silently finds nothing otherwise). So, in order:
//
//  1. an issue this connector already saw carrying the marker is read by
//     id (reads are consistent);
//  2. search for the marker label (backlogd-BL-42), which finds older and
//     adopted issues;
//  3. search for what the integration user created recently
//     (creator = currentUser() AND created >= …), checking each one's
//     property: issues whose label a person removed;
//  4. read by key the issues numbered after the newest one the index or
//     the connector knows, until a few keys in a row do not exist: the
//     index does not have them yet, but reads by key see them.
//
// An issue whose entity property holds the marker ends the search; one
// that has only the marker label (Jira's Clone copies labels but not
// entity properties, so a clone of a synced issue carries its label) is
// kept while the next steps look for one with the property, and returned
// only when none has it. Between equals the lowest id, the original, wins.
// An empty property search is never trusted, and never made.
func (c *Connector) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	if !validMarker(marker) {
		return connectors.Record{}, fmt.Errorf("jira: find marker %q: %w", marker, connectors.ErrNotFound)
	}
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	// The best issue found so far; one whose property holds the marker
	// ends the search at the end of a step, one with the label alone
	// (a clone, or a label-only adoption) is kept while the next steps
	// look for the original.
	var best *markerSeen
	consider := func(is *issue, rec connectors.Record) {
		if rec.Marker != marker {
			return
		}
		seen := markerSeen{id: is.ID, property: propertyMarker(is) == marker}
		if best == nil || seen.better(*best) {
			best = &seen
		}
	}
	found := func() (connectors.Record, bool, error) {
		if best == nil || !best.property {
			return connectors.Record{}, false, nil
		}
		rec, err := c.Get(ctx, best.id)
		return rec, err == nil, err
	}
	c.mu.Lock()
	known, isKnown := c.markers[marker]
	c.mu.Unlock()
	if isKnown {
		is, err := c.getIssue(ctx, m, known.id, false)
		switch {
		case err == nil:
			rec, err := c.complete(ctx, m, is)
			if err != nil && !isNotFound(err) {
				return connectors.Record{}, err
			}
			if err == nil && rec.Marker == marker && propertyMarker(is) == marker {
				return rec, nil
			}
			if err == nil {
				consider(is, rec)
			}
			if err != nil || rec.Marker != marker {
				c.forgetMarker(marker, known.id)
			}
		case isNotFound(err):
			c.forgetMarker(marker, known.id)
		default:
			return connectors.Record{}, err
		}
	}
	project := "project = " + jqlString(c.cfg.Project)
	top := 0
	check := func(p searchPage) (connectors.Record, bool, error) {
		for i := range p.issues {
			is := &p.issues[i]
			top = max(top, c.keyNumber(is.Key))
			rec, err := c.record(ctx, m, is)
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return connectors.Record{}, false, err
			}
			consider(is, rec)
		}
		return found()
	}
	if *c.cfg.MarkerLabel {
		p, err := c.search(ctx, m, "search the marker label of "+marker, project+" AND labels = "+jqlString(markerLabelPrefix+marker)+" ORDER BY key ASC", "", 0, 10, searchFields)
		if err != nil {
			return connectors.Record{}, err
		}
		if rec, ok, err := check(p); ok || err != nil {
			return rec, err
		}
	}
	since := time.Now().Add(-c.cfg.MarkerLookback)
	p, err := c.search(ctx, m, "search recent issues for "+marker,
		project+" AND creator = currentUser() AND created >= "+jqlString(jqlMinute(m, since))+" ORDER BY key DESC", "", 0, c.cfg.PageSize, searchFields)
	if err != nil {
		return connectors.Record{}, err
	}
	if rec, ok, err := check(p); ok || err != nil {
		return rec, err
	}
	c.mu.Lock()
	top = max(top, c.lastNum)
	c.mu.Unlock()
	if top == 0 {
		// Nothing known: start after the newest issue the index has.
		p, err := c.search(ctx, m, "find the newest issue of "+c.cfg.Project, project+" ORDER BY key DESC", "", 0, 1, "summary")
		if err != nil {
			return connectors.Record{}, err
		}
		for _, is := range p.issues {
			top = max(top, c.keyNumber(is.Key))
		}
	}
	// Bounded, for a project where people create issues faster than the
	// probe reads them.
	for n, misses := top+1, 0; misses < c.cfg.ProbeMisses && n <= top+maxProbes; n++ {
		key := c.cfg.Project + "-" + strconv.Itoa(n)
		is, err := c.getIssue(ctx, m, key, false)
		if isNotFound(err) {
			misses++
			continue
		}
		if err != nil {
			return connectors.Record{}, err
		}
		misses = 0
		rec, err := c.complete(ctx, m, is)
		if errors.Is(err, connectors.ErrNotFound) {
			continue // a key of an issue that moved away
		}
		if err != nil {
			return connectors.Record{}, err
		}
		if rec.Marker == marker && propertyMarker(is) == marker {
			return rec, nil
		}
		consider(is, rec)
	}
	if best != nil {
		// Only issues with the label: the oldest.
		return c.Get(ctx, best.id)
	}
	return connectors.Record{}, fmt.Errorf("jira: no issue of %s carries marker %s: %w", c.cfg.Project, marker, connectors.ErrNotFound)
}
