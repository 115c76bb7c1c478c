package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/backlogd/backlogd/backlog"
	"github.com/backlogd/backlogd/syncer/store"
)

// maxWebhookBody bounds a delivery: GitHub caps payloads at 25 MB, and a
// delivery bigger than that is not one we want to hold in memory.
const maxWebhookBody = 25 << 20

// Handler serves the daemon's one HTTP listener: health, the read API of
// the canonical backlog, and webhooks. metrics, when not nil, is mounted
// at /metrics; reload, when not nil, at POST /-/reload.
func (s *Syncer) Handler(metrics http.Handler, reload func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Tx(ctx, func(tx store.Tx) error { _, err := tx.Cursor(ctx, "readyz"); return err }); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable", "error": err.Error()})
			return
		}
		ok, waiting, failing := s.Ready()
		body := map[string]any{"status": "ready"}
		if len(failing) > 0 {
			body["failing"] = failing
		}
		if !ok {
			body["status"] = "waiting for targets"
			body["waiting"] = waiting
			writeJSON(w, http.StatusServiceUnavailable, body)
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
	mux.HandleFunc("GET /api/v1/items", func(w http.ResponseWriter, r *http.Request) {
		items, err := store.Read(r.Context(), s.store, func(tx store.Tx) ([]backlog.Item, error) { return tx.Items(r.Context()) })
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, nonNil(items))
	})
	mux.HandleFunc("GET /api/v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		it, err := store.Read(r.Context(), s.store, func(tx store.Tx) (backlog.Item, error) { return tx.Item(r.Context(), r.PathValue("id")) })
		switch {
		case errors.Is(err, store.ErrNotFound):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no item " + r.PathValue("id")})
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, it)
		}
	})
	mux.HandleFunc("GET /api/v1/conflicts", func(w http.ResponseWriter, r *http.Request) {
		cs, err := store.Read(r.Context(), s.store, func(tx store.Tx) ([]store.Conflict, error) { return tx.Conflicts(r.Context()) })
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, nonNil(cs))
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Status())
	})
	mux.HandleFunc("POST /api/v1/resync", func(w http.ResponseWriter, r *http.Request) {
		target, item := r.URL.Query().Get("target"), r.URL.Query().Get("item")
		var err error
		switch {
		case target == "" && item != "":
			s.Enqueue(item)
		case target == "":
			err = s.EnqueueAll(r.Context())
		default:
			err = s.EnqueueTarget(r.Context(), target, item)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued"})
	})
	mux.HandleFunc("POST /webhooks/{target}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "delivery too large or unreadable"})
			return
		}
		code, msg := s.Webhook(r.Context(), r.PathValue("target"), r.Header, body)
		writeJSON(w, code, map[string]string{"status": msg})
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	if reload != nil {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
			if err := reload(r.Context()); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		})
	}
	return mux
}

// nonNil makes an empty list encode as [], not null.
func nonNil[T any](vs []T) []T {
	if vs == nil {
		return []T{}
	}
	return vs
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
