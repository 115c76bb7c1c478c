package jira

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	gojira "github.com/andygrunwald/go-jira"
	"github.com/backlogd/backlogd/connectors"
)

// Jira does not let a status be set: an issue moves through the
// transitions its workflow offers from its current status, some of which
// ask for fields (a resolution, a comment). The API only tells which
// transitions are available now (reading whole workflows needs an
// administrator), so the connector learns the workflow graph as it goes
// (per issue type), plans the cheapest known path to the status the
// mapping wants (avoiding detours through other done statuses), takes one
// transition, and reads the transitions again. Where the graph is still
// unknown it explores toward the target's status category (to do, in
// progress, done), never through a status twice and never into another
// done status while something else is offered. What cannot be done is a
// terminal error naming the issue, the transition and the field, never a
// retry loop.

// transition is one transition as GET …/transitions?expand=transitions.fields
// lists it. go-jira's Transition keeps only "required" of each field.
type transition struct {
	ID     string                     `json:"id"`
	Name   string                     `json:"name"`
	To     gojira.Status              `json:"to"`
	Fields map[string]transitionField `json:"fields"`
}

type transitionField struct {
	Required        bool               `json:"required"`
	Name            string             `json:"name"`
	HasDefaultValue bool               `json:"hasDefaultValue"`
	Schema          gojira.FieldSchema `json:"schema"`
	AllowedValues   []json.RawMessage  `json:"allowedValues"`
}

// edge is a transition of the learned workflow graph, with the fields it
// requires.
type edge struct {
	t transition
}

// learn records the transitions available from status for issue type.
func (c *Connector) learn(issueType, status string, ts []transition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.graph[issueType]
	if g == nil {
		g = map[string][]edge{}
		c.graph[issueType] = g
	}
	var es []edge
	for _, t := range ts {
		es = append(es, edge{t: t})
	}
	g[status] = es
}

// detour is the cost of passing through a done status that is not the
// target: resolving an issue as Won't Do on the way to In Progress would
// notify people and stamp a resolution.
const detour = 10

// plan returns the cheapest known path of transitions from one status to
// another (every hop costs 1, a detour through another done status
// more), or nil.
func (c *Connector) plan(m *meta, issueType, from, to string) []transition {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.graph[issueType]
	cost := map[string]int{from: 0}
	path := map[string][]transition{from: nil}
	done := map[string]bool{}
	for {
		cur, best := "", -1
		for st, d := range cost {
			if !done[st] && (best < 0 || d < best || d == best && st < cur) {
				cur, best = st, d
			}
		}
		if best < 0 {
			return nil
		}
		if cur == to {
			return path[cur]
		}
		done[cur] = true
		for _, e := range g[cur] {
			next := e.t.To.Name
			w := 1
			if next != to && m.category[next] == "done" {
				w = detour
			}
			if d, seen := cost[next]; !seen || best+w < d {
				cost[next] = best + w
				path[next] = append(slices.Clone(path[cur]), e.t)
			}
		}
	}
}

// categoryRank orders status categories along a workflow.
func categoryRank(cat string) int {
	switch cat {
	case "new":
		return 0
	case "indeterminate":
		return 1
	case "done":
		return 2
	}
	return 1
}

// moveTo takes issue is (read with its transitions) to w.status.
func (c *Connector) moveTo(ctx context.Context, m *meta, is *issue, w write) error {
	key := is.Key
	issueType := label(is.Fields["issuetype"])
	current := label(is.Fields["status"])
	target := w.status
	avail := is.Transitions
	visited := map[string]bool{current: true}
	for hop := 0; current != target; hop++ {
		if hop >= c.cfg.MaxTransitions {
			return connectors.Terminalf("jira: %s: status %q not reached within %d transitions (now %q); check the workflow or raise the limit", key, target, c.cfg.MaxTransitions, current)
		}
		c.learn(issueType, current, avail)
		t, err := c.nextTransition(m, key, issueType, current, target, avail, visited, w)
		if err != nil {
			return err
		}
		body, err := c.transitionBody(ctx, m, key, current, t, w)
		if err != nil {
			return err
		}
		err = c.do(ctx, call{op: fmt.Sprintf("transition %s %q (%s → %s)", key, t.Name, current, t.To.Name), method: http.MethodPost,
			path: issuePath(m, is.ID) + "/transitions", in: body})
		var br *badRequest
		if errors.As(err, &br) {
			return connectors.Terminalf("jira: %s: transition %q (%s → %s) refused: %s; supply the fields it needs under the target's transition_fields", key, t.Name, current, t.To.Name, br.msg)
		}
		if err != nil {
			return err
		}
		current = t.To.Name
		visited[current] = true
		if current == target {
			return nil
		}
		// Re-read what the new status offers.
		var res struct {
			Transitions []transition `json:"transitions"`
		}
		if err := c.do(ctx, call{op: "read the transitions of " + key, method: http.MethodGet, path: issuePath(m, is.ID) + "/transitions",
			query: url.Values{"expand": {"transitions.fields"}}, out: &res}); err != nil {
			return err
		}
		avail = res.Transitions
	}
	return nil
}

// nextTransition picks the first transition of the cheapest known path,
// or explores: an available transition to a status not visited yet,
// moving toward the target's category, never into another done status
// while something else is offered. A known path whose transitions need
// fields no one supplies fails before the first hop.
func (c *Connector) nextTransition(m *meta, key, issueType, current, target string, avail []transition, visited map[string]bool, w write) (transition, error) {
	byID := map[string]transition{}
	for _, t := range avail {
		byID[t.ID] = t
	}
	if p := c.plan(m, issueType, current, target); len(p) > 0 {
		from := current
		for _, t := range p {
			for _, fk := range sortedKeys(t.Fields) {
				f := t.Fields[fk]
				if _, ok := c.transitionValue(fk, f, t, w); !ok && f.Required && !f.HasDefaultValue {
					return transition{}, missingField(key, from, t, fk, f)
				}
			}
			from = t.To.Name
		}
		if t, ok := byID[p[0].ID]; ok {
			return t, nil
		}
	}
	var cands []transition
	for _, t := range avail {
		if !visited[t.To.Name] {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		var offered []string
		for _, t := range avail {
			offered = append(offered, fmt.Sprintf("%q to %q", t.Name, t.To.Name))
		}
		if len(offered) == 0 {
			offered = []string{"none"}
		}
		return transition{}, connectors.Terminalf("jira: %s: no workflow path from %q to status %q; the transitions offered are %s: add a transition to the workflow or map the status to one it reaches", key, current, target, strings.Join(offered, ", "))
	}
	here, goal := categoryRank(m.category[current]), categoryRank(m.category[target])
	c.mu.Lock()
	known := c.graph[issueType]
	rank := func(t transition) (int, int, int, int) {
		to := t.To.Name
		r := categoryRank(m.category[to])
		sideways := 0
		if m.category[to] == "done" && to != target {
			sideways = 1 // resolving on the way: last resort
		}
		between := 1
		if r >= min(here, goal) && r <= max(here, goal) {
			between = 0
		}
		_, explored := known[to]
		k := 0
		if explored {
			k = 1
		}
		return sideways, between, abs(r - goal), k
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a1, a2, a3, a4 := rank(cands[i])
		b1, b2, b3, b4 := rank(cands[j])
		if a1 != b1 {
			return a1 < b1
		}
		if a2 != b2 {
			return a2 < b2
		}
		if a3 != b3 {
			return a3 < b3
		}
		return a4 < b4
	})
	c.mu.Unlock()
	return cands[0], nil
}

func missingField(key, from string, t transition, fk string, f transitionField) error {
	return connectors.Terminalf("jira: %s: transition %q (%s → %s) requires field %q (%s), which neither the mapping nor the target's transition_fields supplies; add transition_fields: {%q: {%s: …}} to the target's settings%s",
		key, t.Name, from, t.To.Name, orName(f.Name, fk), fk, t.To.Name, fk, allowed(f))
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// transitionBody supplies the fields transition t requires: the
// resolution from the write (the mapping), then the target's
// transition_fields for the transition's target status, its name, or
// "*". A required field no one supplies is a terminal error.
func (c *Connector) transitionBody(ctx context.Context, m *meta, key, from string, t transition, w write) (map[string]any, error) {
	fields := map[string]any{}
	body := map[string]any{"transition": map[string]string{"id": t.ID}}
	for _, fk := range sortedKeys(t.Fields) {
		f := t.Fields[fk]
		v, ok := c.transitionValue(fk, f, t, w)
		if !ok {
			if f.Required && !f.HasDefaultValue {
				return nil, missingField(key, from, t, fk, f)
			}
			continue
		}
		switch {
		case fk == "comment" || f.Schema.System == "comment":
			body["update"] = map[string]any{"comment": []any{map[string]any{"add": map[string]any{"body": c.toJira(ctx, m, v)}}}}
		case fk == "resolution" || f.Schema.Type == "resolution":
			fields[fk] = map[string]string{"name": v}
		case f.Schema.Type == "user":
			ref, err := c.users.resolve(ctx, m, v)
			if err != nil {
				return nil, connectors.Terminalf("jira: %s: transition %q: field %q: user %q is not known to Jira", key, t.Name, orName(f.Name, fk), v)
			}
			fields[fk] = userValue(m, ref)
		case f.Schema.Type == "number":
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, connectors.Terminalf("jira: %s: transition %q: field %q: %q is not a number", key, t.Name, orName(f.Name, fk), v)
			}
			fields[fk] = n
		case f.Schema.Type == "option":
			fields[fk] = map[string]string{"value": v}
		case f.Schema.Type == "priority" || f.Schema.Type == "version" || f.Schema.Type == "component":
			fields[fk] = map[string]string{"name": v}
		default:
			fields[fk] = v
		}
	}
	if len(fields) > 0 {
		body["fields"] = fields
	}
	return body, nil
}

// transitionValue finds the value of field fk for transition t.
func (c *Connector) transitionValue(fk string, f transitionField, t transition, w write) (string, bool) {
	if (fk == "resolution" || f.Schema.Type == "resolution") && w.hasRes && w.resolution != "" {
		return w.resolution, true
	}
	for _, sel := range []string{t.To.Name, t.Name, "*"} {
		for status, vals := range c.cfg.TransitionFields {
			if !strings.EqualFold(status, sel) {
				continue
			}
			for k, v := range vals {
				if strings.EqualFold(k, fk) || f.Name != "" && strings.EqualFold(k, f.Name) {
					return v, true
				}
			}
		}
	}
	return "", false
}

func orName(name, key string) string {
	if name != "" {
		return name
	}
	return key
}

// allowed lists a field's allowed values for an error message.
func allowed(f transitionField) string {
	var vs []string
	for _, raw := range f.AllowedValues {
		if l := label(raw); l != "" {
			vs = append(vs, l)
		}
	}
	if len(vs) == 0 {
		return ""
	}
	return " (allowed: " + strings.Join(vs, ", ") + ")"
}
