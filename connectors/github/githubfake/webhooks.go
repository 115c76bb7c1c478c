package githubfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Webhooks: once SetWebhook names a receiver, every change to the
// repository's issues, whoever makes it (a person through the hooks of
// this package or a client through the API), is delivered as GitHub
// does: POSTed after the change, one delivery at a time and in order,
// signed with X-Hub-Signature-256, named by X-GitHub-Event and a unique
// X-GitHub-Delivery. One edit can make several deliveries (a PATCH that
// changes the title and the labels sends "edited" and "labeled"). GitHub
// does not retry a failed delivery; neither does the fake.

// Delivery is one webhook delivery, sent or lost.
type Delivery struct {
	// ID is the X-GitHub-Delivery GUID; a redelivery keeps it.
	ID string
	// Event is X-GitHub-Event (issues, issue_comment, sub_issues,
	// pull_request) and Action the payload's action.
	Event, Action string
	// Issue is the number of the issue the delivery is about (the
	// sub-issue, for sub_issues events).
	Issue int
	Body  []byte
	// Queued is when the change happened, Sent when the receiver
	// answered; Status is its HTTP status (0: not sent yet or lost, -1:
	// the receiver could not be reached).
	Queued, Sent time.Time
	Status       int
	// Lost is set for a delivery DropNextDeliveries swallowed.
	Lost bool
}

// webhooks is the webhook sender's state, under its own lock so that
// deliveries are queued while s.mu is held and sent without it.
type webhooks struct {
	mu      sync.Mutex
	cond    *sync.Cond
	url     string
	secret  string
	client  *http.Client
	queue   []int // indexes into sent, waiting to be posted
	sent    []Delivery
	drop    int
	seq     int
	running bool
	closed  bool
	done    chan struct{}
	pending int // queued or being posted
}

// SetWebhook makes the fake deliver webhooks to url, signed with secret
// (url "" stops deliveries).
func (s *Server) SetWebhook(url, secret string) {
	h := &s.wh
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cond == nil {
		h.cond = sync.NewCond(&h.mu)
	}
	h.url, h.secret = url, secret
	if h.client == nil {
		h.client = &http.Client{Timeout: 10 * time.Second} // GitHub gives up after 10 s
	}
	if url != "" && !h.running && !h.closed {
		h.running = true
		h.done = make(chan struct{})
		go s.sendLoop()
	}
}

// DropNextDeliveries loses the next n deliveries, as when the receiver
// is down: GitHub records them as failed and does not send them again.
func (s *Server) DropNextDeliveries(n int) {
	s.wh.mu.Lock()
	s.wh.drop += n
	s.wh.mu.Unlock()
}

// Deliveries returns every delivery so far, in order, lost ones included.
func (s *Server) Deliveries() []Delivery {
	s.wh.mu.Lock()
	defer s.wh.mu.Unlock()
	out := slices.Clone(s.wh.sent)
	for i := range out {
		out[i].Body = slices.Clone(out[i].Body)
	}
	return out
}

// WaitDeliveries blocks until every queued delivery has been sent.
func (s *Server) WaitDeliveries() {
	h := &s.wh
	h.mu.Lock()
	defer h.mu.Unlock()
	for h.pending > 0 {
		h.cond.Wait()
	}
}

// Redeliver sends delivery id again, with the same GUID, as the
// "Redeliver" button of a webhook's recent deliveries does, and returns
// the receiver's status.
func (s *Server) Redeliver(id string) (int, error) {
	s.wh.mu.Lock()
	var d *Delivery
	for i := range s.wh.sent {
		if s.wh.sent[i].ID == id {
			d = &s.wh.sent[i]
		}
	}
	if d == nil {
		s.wh.mu.Unlock()
		return 0, fmt.Errorf("githubfake: no delivery %q", id)
	}
	cp := *d
	url, secret, client := s.wh.url, s.wh.secret, s.wh.client
	s.wh.mu.Unlock()
	if url == "" {
		return 0, fmt.Errorf("githubfake: no webhook receiver set")
	}
	return post(client, url, secret, cp)
}

// closeHooks stops the sender; undelivered deliveries are dropped.
func (s *Server) closeHooks() {
	h := &s.wh
	h.mu.Lock()
	h.closed = true
	running, done := h.running, h.done
	h.pending -= len(h.queue)
	h.queue = nil
	if h.cond != nil {
		h.cond.Broadcast()
	}
	h.mu.Unlock()
	if running {
		<-done
	}
}

func (s *Server) sendLoop() {
	h := &s.wh
	defer close(h.done)
	for {
		h.mu.Lock()
		for len(h.queue) == 0 && !h.closed {
			h.cond.Wait()
		}
		if h.closed {
			h.mu.Unlock()
			return
		}
		i := h.queue[0]
		h.queue = h.queue[1:]
		d := h.sent[i]
		url, secret, client := h.url, h.secret, h.client
		h.mu.Unlock()
		status := -1
		if url != "" {
			if st, err := post(client, url, secret, d); err == nil {
				status = st
			}
		}
		h.mu.Lock()
		h.sent[i].Status, h.sent[i].Sent = status, time.Now()
		h.pending--
		h.cond.Broadcast()
		h.mu.Unlock()
	}
}

// post sends one delivery and returns the receiver's status.
func post(client *http.Client, url, secret string, d Delivery) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/fake")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	req.Header.Set("X-Hub-Signature-256", connectors.SignSHA256(secret, d.Body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// emit queues a delivery of event about issue n; s.mu is held. Nothing
// is queued while no receiver is set, as for a repository without hooks.
func (s *Server) emit(event, action string, n int, payload map[string]any) {
	h := &s.wh
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.url == "" || h.closed {
		return
	}
	payload["action"] = action
	payload["repository"] = s.repoJSON()
	if _, ok := payload["sender"]; !ok {
		payload["sender"] = map[string]any{"login": s.opts.Login, "type": "User"}
	}
	body, _ := json.Marshal(payload)
	h.seq++
	d := Delivery{
		ID:    fmt.Sprintf("%08x-fake-4000-8000-%012d", h.seq, h.seq),
		Event: event, Action: action, Issue: n, Body: body, Queued: time.Now(),
	}
	if h.drop > 0 {
		h.drop--
		d.Lost = true
		h.sent = append(h.sent, d)
		return
	}
	h.sent = append(h.sent, d)
	h.queue = append(h.queue, len(h.sent)-1)
	h.pending++
	h.cond.Broadcast()
}

func (s *Server) repoJSON() map[string]any {
	return map[string]any{
		"id": 1, "name": s.opts.Repo, "full_name": s.opts.Owner + "/" + s.opts.Repo,
		"owner": map[string]any{"login": s.opts.Owner, "type": "Organization"},
	}
}

func sender(login string) map[string]any { return map[string]any{"login": login, "type": "User"} }

// issueEvent queues an issues (or, for a pull request, pull_request)
// event; s.mu is held.
func (s *Server) issueEvent(action string, is *Issue, by string) {
	if is.PullRequest {
		s.emit("pull_request", action, is.Number, map[string]any{"number": is.Number, "pull_request": s.issueJSON(is, ""), "sender": sender(by)})
		return
	}
	s.emit("issues", action, is.Number, map[string]any{"issue": s.issueJSON(is, ""), "sender": sender(by)})
}

// changeEvents queues the issues events GitHub sends for the change from
// before to the issue as it is now, one per kind of change; s.mu is held.
func (s *Server) changeEvents(before Issue, is *Issue, by string) {
	if before.State != is.State {
		if is.State == "closed" {
			s.issueEvent("closed", is, by)
		} else {
			s.issueEvent("reopened", is, by)
		}
	}
	if before.Title != is.Title || before.Body != is.Body {
		s.issueEvent("edited", is, by)
	}
	if !slices.Equal(before.Labels, is.Labels) {
		action := "labeled"
		if len(is.Labels) < len(before.Labels) {
			action = "unlabeled"
		}
		s.issueEvent(action, is, by)
	}
	if !slices.Equal(before.Assignees, is.Assignees) {
		action := "assigned"
		if len(is.Assignees) < len(before.Assignees) {
			action = "unassigned"
		}
		s.issueEvent(action, is, by)
	}
	if before.Milestone != is.Milestone {
		action := "milestoned"
		if is.Milestone == 0 {
			action = "demilestoned"
		}
		s.issueEvent(action, is, by)
	}
	if before.Parent != is.Parent {
		if old := s.issues[before.Parent]; before.Parent != 0 && old != nil {
			s.subIssueEvent("sub_issue_removed", old, is)
		}
		if p := s.issues[is.Parent]; is.Parent != 0 && p != nil {
			s.subIssueEvent("sub_issue_added", p, is)
		}
	}
	if before.Type != is.Type {
		action := "typed"
		if is.Type == "" {
			action = "untyped"
		}
		s.issueEvent(action, is, by)
	}
}

// commentEvent queues an issue_comment event; s.mu is held.
func (s *Server) commentEvent(action string, c *Comment, by string) {
	is := s.issues[c.Issue]
	if is == nil {
		return
	}
	s.emit("issue_comment", action, is.Number, map[string]any{"issue": s.issueJSON(is, ""), "comment": s.commentJSON(c), "sender": sender(by)})
}

// subIssueEvent queues a sub_issues event; s.mu is held.
func (s *Server) subIssueEvent(action string, parent, child *Issue) {
	repo := s.repoJSON()
	s.emit("sub_issues", action, child.Number, map[string]any{
		"parent_issue_id": parent.ID, "parent_issue": s.issueJSON(parent, ""), "parent_issue_repo": repo,
		"sub_issue_id": child.ID, "sub_issue": s.issueJSON(child, ""), "sub_issue_repo": repo,
	})
}
