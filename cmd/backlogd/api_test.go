package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTheAPITokenGuardsTheReadAPI runs a daemon with api_token set: the
// items (private cost and internal comments included) need the token,
// webhooks and health do not, and the CLI finds the token through the
// same reference.
func TestTheAPITokenGuardsTheReadAPI(t *testing.T) {
	bin := opsBinary(t)
	dir := t.TempDir()
	opsWriteConfig(t, dir, fileTargets(t, "home"), "api_token: env:BACKLOGD_TEST_API_TOKEN\n")
	const token = "s3cret-api-t0ken"
	d := startDaemon(t, bin, dir, []string{"BACKLOGD_TEST_API_TOKEN=" + token})

	if code, _ := d.get("/api/v1/items"); code != http.StatusUnauthorized {
		t.Errorf("/api/v1/items without the token: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/api/v1/items", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/api/v1/items with the token: %d, want 200", resp.StatusCode)
	}
	if code, _ := opsHTTP(t, http.MethodPost, "http://"+d.addr+"/-/reload"); code != http.StatusUnauthorized {
		t.Errorf("POST /-/reload without the token: %d, want 401", code)
	}
	if code, _ := d.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d, want 200 without a token", code)
	}

	// The CLI reads the daemon's config, resolves the same reference and
	// talks to the running daemon with it.
	t.Setenv("BACKLOGD_TEST_API_TOKEN", token)
	cfgPath := filepath.Join(dir, "backlogd.yaml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cli := filepath.Join(t.TempDir(), "backlogd.yaml")
	// The daemon listens on a port chosen at start: point the CLI at it.
	body := strings.Replace(string(b), "listen: 127.0.0.1:0", "listen: "+d.addr, 1)
	body = strings.Replace(body, "clients_dir: clients", "clients_dir: "+filepath.Join(dir, "clients"), 1)
	body = strings.Replace(body, "data_dir: ./data", "data_dir: "+filepath.Join(dir, "data"), 1)
	if err := os.WriteFile(cli, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := cmdStatus(context.Background(), []string{"--config", cli}, &out); err != nil {
		t.Fatalf("status: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "home") || strings.Contains(out.String(), "no daemon answers") {
		t.Errorf("status did not read the running daemon:\n%s", out.String())
	}
	if strings.Contains(d.logs.String(), token) {
		t.Error("the API token reached the daemon's log")
	}
}

// TestOneProcessSyncsASQLiteStore: a second daemon, or a resync that does
// not reach the running daemon, must not sync the same SQLite store.
func TestOneProcessSyncsASQLiteStore(t *testing.T) {
	bin := opsBinary(t)
	dir := t.TempDir()
	opsWriteConfig(t, dir, fileTargets(t, "home"), "")
	startDaemon(t, bin, dir, nil)

	second := exec.Command(bin, "run", "--config", "backlogd.yaml")
	second.Dir = dir
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another backlogd process is syncing") {
		t.Errorf("a second daemon on the same store: %v\n%s", err, out)
	}
	// listen: 127.0.0.1:0 means resync finds no daemon to ask, and must
	// refuse to sync beside it rather than duplicate its creates.
	resync := exec.Command(bin, "resync", "--config", "backlogd.yaml")
	resync.Dir = dir
	out, err = resync.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another backlogd process is syncing") {
		t.Errorf("resync beside a daemon it cannot reach: %v\n%s", err, out)
	}
}
