package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/backlogd/backlogd/syncer"
)

// statusLines prints sts as `backlogd status` does and returns its lines,
// each split into its columns (the last, LAST ERROR or an item's text,
// kept whole).
func statusLines(t *testing.T, sts []syncer.TargetStatus) [][]string {
	t.Helper()
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	printStatus(tw, sts)
	tw.Flush()
	var out [][]string
	for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		out = append(out, strings.Fields(line))
	}
	return out
}

// row finds the line of target, and the item lines under it.
func row(t *testing.T, lines [][]string, target string) (head []string, items []string) {
	t.Helper()
	for i, l := range lines {
		if len(l) == 0 || l[0] != target {
			continue
		}
		for _, it := range lines[i+1:] {
			if len(it) == 0 || (it[0] != "retrying" && it[0] != "parked") {
				break
			}
			items = append(items, strings.Join(it, " "))
		}
		return l, items
	}
	t.Fatalf("no line for target %s in %q", target, lines)
	return nil, nil
}

func TestStatusTellsAFailingTargetFromFailingItems(t *testing.T) {
	since := time.Date(2026, 3, 1, 10, 2, 3, 0, time.UTC)
	base := syncer.TargetStatus{Client: "acme", Kind: "github", Reached: true, OldestWait: "0s"}
	with := func(name string, f func(*syncer.TargetStatus)) syncer.TargetStatus {
		st := base
		st.Target = name
		f(&st)
		return st
	}
	many := func(n int, kind string) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("BL-%d: %s", 100+i, kind))
		}
		return out
	}
	lines := statusLines(t, []syncer.TargetStatus{
		with("one-item", func(st *syncer.TargetStatus) {
			st.ItemsFailing = 1
			st.FailingItems = []syncer.ItemError{{Item: "BL-2", Error: "update BL-2 on one-item: HTTP 502", Since: since, Attempts: 3}}
			st.ItemsParked, st.Parked = 1, []string{"BL-3: the tracker refused the values (HTTP 422)"}
		}),
		with("down", func(st *syncer.TargetStatus) { st.LastError = "list changes: connection refused" }),
		with("crowded", func(st *syncer.TargetStatus) {
			st.ItemsFailing = 25
			for i := range 10 {
				st.FailingItems = append(st.FailingItems, syncer.ItemError{Item: fmt.Sprintf("BL-%d", i), Error: "HTTP 502", Since: since, Attempts: 1})
			}
			st.ItemsParked, st.Parked = 12, many(12, "refused")
		}),
	})
	// Columns: TARGET CLIENT KIND STATE LAST SYNC(2 words) QUEUE OLDEST RATE LIMIT CONFLICTS FAILING PARKED LAST ERROR.
	const state, failing, parked, lastError = 3, 9, 10, 11
	t.Run("a target with an item failing is ok, counts it and lists it as retrying", func(t *testing.T) {
		head, items := row(t, lines, "one-item")
		if head[state] != "ok" || head[failing] != "1" || head[parked] != "1" || len(head) > lastError {
			t.Errorf("target line %q, want ok, 1 failing, 1 parked and no last error", head)
		}
		want := []string{
			"retrying BL-2: update BL-2 on one-item: HTTP 502 (3 attempts since 10:02:03)",
			"parked BL-3: the tracker refused the values (HTTP 422)",
		}
		if !slices.Equal(items, want) {
			t.Errorf("item lines %q, want %q", items, want)
		}
	})
	t.Run("a target failing as a whole says so with its own error", func(t *testing.T) {
		head, items := row(t, lines, "down")
		if head[state] != "failing" || strings.Join(head[lastError:], " ") != "list changes: connection refused" {
			t.Errorf("target line %q, want failing with the listing's error", head)
		}
		if len(items) != 0 {
			t.Errorf("item lines %q, want none", items)
		}
	})
	t.Run("items beyond the first ten are counted, not listed", func(t *testing.T) {
		head, items := row(t, lines, "crowded")
		if head[failing] != "25" || head[parked] != "12" {
			t.Errorf("target line %q, want 25 failing and 12 parked", head)
		}
		if len(items) != 22 || items[10] != "retrying … and 15 more" || items[21] != "parked … and 2 more" {
			t.Errorf("item lines %q, want ten of each, then how many more", items)
		}
	})
}
