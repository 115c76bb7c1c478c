package jira

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// maxProbes bounds the keys FindByMarker reads past the newest known one.
const maxProbes = 100

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
// An empty property search is never trusted, and never made.
func (c *Connector) FindByMarker(ctx context.Context, marker string) (connectors.Record, error) {
	if !validMarker(marker) {
		return connectors.Record{}, fmt.Errorf("jira: find marker %q: %w", marker, connectors.ErrNotFound)
	}
	m, err := c.metadata(ctx)
	if err != nil {
		return connectors.Record{}, err
	}
	c.mu.Lock()
	id, known := c.markers[marker]
	c.mu.Unlock()
	if known {
		rec, err := c.Get(ctx, id)
		switch {
		case err == nil && rec.Marker == marker:
			return rec, nil
		case err != nil && !isNotFound(err):
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
			if rec.Marker == marker {
				full, err := c.Get(ctx, rec.ID)
				return full, err == nil, err
			}
		}
		return connectors.Record{}, false, nil
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
		if rec.Marker == marker {
			return rec, nil
		}
	}
	return connectors.Record{}, fmt.Errorf("jira: no issue of %s carries marker %s: %w", c.cfg.Project, marker, connectors.ErrNotFound)
}
