package memory

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/backlogd/backlogd/connectors"
)

// Webhook headers of a delivery.
const (
	HeaderSignature = "X-Memory-Signature" // "sha256=" and the hex HMAC-SHA256 of the body
	HeaderEvent     = "X-Memory-Event"
	HeaderDelivery  = "X-Memory-Delivery"
)

// hookBody is a delivery's payload.
type hookBody struct {
	Event   string   `json:"event"`
	Records []string `json:"records,omitempty"`
	Deleted []string `json:"deleted,omitempty"`
}

var deliveries atomic.Int64 // delivery ids, unique in the process

func (t *Tracker) deliver(event, id string) {
	if t.opts.Webhook != nil {
		t.send(hookBody{Event: event, Records: []string{id}})
	}
}

func (t *Tracker) deliverDeleted(id string) {
	if t.opts.Webhook != nil {
		t.send(hookBody{Event: "record.deleted", Deleted: []string{id}})
	}
}

func (t *Tracker) send(b hookBody) {
	body, _ := json.Marshal(b)
	h, err := t.Sign(b.Event, body)
	if err != nil {
		return // no secret: deliveries cannot be signed, so none are sent
	}
	t.opts.Webhook(h, body)
}

// Sign returns the headers of a delivery of body for event, signed with
// Options.WebhookSecret, so tests can forge or replay deliveries.
func (t *Tracker) Sign(event string, body []byte) (http.Header, error) {
	if t.opts.WebhookSecret == "" {
		return nil, fmt.Errorf("%s: no webhook secret is configured", t.opts.Name)
	}
	h := http.Header{}
	h.Set(HeaderSignature, connectors.SignSHA256(t.opts.WebhookSecret, body))
	h.Set(HeaderEvent, event)
	h.Set(HeaderDelivery, "d"+strconv.FormatInt(deliveries.Add(1), 10))
	return h, nil
}

// ParseWebhook implements connectors.WebhookReceiver: it checks the
// signature in constant time and reduces the delivery to the records to
// re-read or forget. It never touches the records.
func (t *Tracker) ParseWebhook(header http.Header, body []byte) (connectors.Delivery, error) {
	if t.opts.WebhookSecret == "" {
		return connectors.Delivery{}, fmt.Errorf("%s: webhook refused: no webhook secret is configured: %w", t.opts.Name, connectors.ErrBadSignature)
	}
	if !connectors.ValidSHA256(connectors.NewSecret(t.opts.WebhookSecret), header.Get(HeaderSignature), body) {
		return connectors.Delivery{}, fmt.Errorf("%s: webhook refused: %w", t.opts.Name, connectors.ErrBadSignature)
	}
	var b hookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return connectors.Delivery{}, fmt.Errorf("%s: webhook: the body is not a delivery: %w", t.opts.Name, err)
	}
	return connectors.Delivery{ID: header.Get(HeaderDelivery), Event: b.Event, RecordIDs: b.Records, Deleted: b.Deleted}, nil
}
