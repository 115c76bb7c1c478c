package main

// Operations tests: the real binary, run as an operator runs it, with
// signals, config edits, health probes and a scan of everything it says
// for secrets. They need no network beyond loopback.

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors/github/githubfake"
)

const (
	startTimeout  = 60 * time.Second
	reloadTimeout = 30 * time.Second
)

func fileTargets(t *testing.T, names ...string) []opsTarget {
	t.Helper()
	all := map[string]opsTarget{
		"home":           fileTarget(t, "home", "./data/home", "home.yaml"),
		"acme-tracker":   fileTarget(t, "acme-tracker", "./data/acme", "acme.yaml"),
		"globex-tracker": fileTarget(t, "globex-tracker", "./data/globex", "globex.yaml"),
	}
	var out []opsTarget
	for _, n := range names {
		out = append(out, all[n])
	}
	return out
}

func waitReady(t *testing.T, d *opsDaemon) {
	t.Helper()
	eventually(t, startTimeout, "/readyz answers 200", func() bool {
		code, _ := d.get("/readyz")
		return code == http.StatusOK
	})
}

// statusTargets returns the target names /api/v1/status lists.
func statusTargets(t *testing.T, d *opsDaemon) []string {
	t.Helper()
	code, body := d.get("/api/v1/status")
	if code != http.StatusOK {
		t.Fatalf("/api/v1/status: %d %s", code, body)
	}
	var st []struct {
		Target string `json:"target"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/api/v1/status: %v: %s", err, body)
	}
	var names []string
	for _, s := range st {
		names = append(names, s.Target)
	}
	return names
}

func scrape(t *testing.T, d *opsDaemon) string {
	t.Helper()
	code, body := d.get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkLogLines requires one JSON object per line, with time, level and
// msg, and snake_case keys at every depth.
func checkLogLines(t *testing.T, ls []string) {
	t.Helper()
	if len(ls) == 0 {
		t.Fatal("the daemon logged nothing")
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, sub := range m {
			if !snakeCase.MatchString(k) {
				t.Errorf("log key %q%s is not snake_case", k, path)
			}
			walk(" (in "+k+")", sub)
		}
	}
	for _, l := range ls {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Errorf("log line is not one JSON object: %v: %q", err, l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := e[k]; !ok {
				t.Errorf("log line has no %q: %s", k, l)
			}
		}
		walk("", e)
	}
}

func TestRunExitsZeroOnSIGTERMWithinTheGrace(t *testing.T) {
	bin := opsBinary(t)
	dir := t.TempDir()
	opsWriteConfig(t, dir, fileTargets(t, "home", "acme-tracker", "globex-tracker"), "")
	const grace = 2 * time.Second
	d := startDaemon(t, bin, dir, nil, "--grace", grace.String())
	waitReady(t, d)

	d.signal(syscall.SIGTERM)
	// The daemon allows itself grace plus 5s to close the listener; the
	// rest is slack for a loaded CI machine, not a speed requirement.
	if code := d.wait(grace + 5*time.Second + 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	d.waitLog(time.Second, func(e map[string]any) bool { return e["msg"] == "stopped" })
	shutdown := d.waitLog(time.Second, func(e map[string]any) bool { return strings.HasPrefix(e["msg"].(string), "shutting down") })
	if shutdown["grace"] == nil {
		t.Errorf("the shutdown line does not say the grace: %v", shutdown)
	}
	checkLogLines(t, d.logs.Lines())
	if _, err := os.Stat(filepath.Join(dir, "data", "backlogd.db")); err != nil {
		t.Errorf("no store in the data directory: %v", err)
	}
}

func TestSIGINTAlsoStopsTheDaemonCleanly(t *testing.T) {
	bin := opsBinary(t)
	dir := t.TempDir()
	opsWriteConfig(t, dir, fileTargets(t, "home"), "")
	d := startDaemon(t, bin, dir, nil, "--grace", "1s")
	waitReady(t, d)
	d.signal(syscall.SIGINT)
	if code := d.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0", code)
	}
}

func TestReloadRejectsAnInvalidConfigThenAppliesValidEdits(t *testing.T) {
	bin := opsBinary(t)
	dir := t.TempDir()
	opsWriteConfig(t, dir, fileTargets(t, "home", "acme-tracker"), "")
	d := startDaemon(t, bin, dir, nil)
	waitReady(t, d)
	m := scrape(t, d)
	for _, r := range []string{"success", "failure"} {
		if v, ok := metric(m, "backlogd_config_reloads_total", "result", r); !ok || v != 0 {
			t.Fatalf("reloads{result=%q} = %v (present %v) at start, want a 0 series", r, v, ok)
		}
	}

	t.Run("an invalid edit is rejected, logged and counted, and the old config keeps running", func(t *testing.T) {
		opsWriteConfig(t, dir, fileTargets(t, "home", "acme-tracker", "globex-tracker"), "listne: 127.0.0.1:1\n")
		d.signal(syscall.SIGHUP)
		eventually(t, reloadTimeout, "reloads{result=failure} = 1", func() bool {
			v, _ := metric(scrape(t, d), "backlogd_config_reloads_total", "result", "failure")
			return v == 1
		})
		e := d.waitLog(time.Second, func(e map[string]any) bool {
			return strings.HasPrefix(e["msg"].(string), "reload rejected")
		})
		msg, _ := e["error"].(string)
		if !strings.Contains(msg, "backlogd.yaml:") || !strings.Contains(msg, "listne") {
			t.Errorf("the rejection does not name the file, line and key: %q", msg)
		}
		if e["level"] != "ERROR" {
			t.Errorf("rejection logged at %v, want ERROR", e["level"])
		}
		m := scrape(t, d)
		if v, _ := metric(m, "backlogd_config_last_reload_successful"); v != 0 {
			t.Errorf("last_reload_successful = %v after a rejected reload, want 0", v)
		}
		if v, _ := metric(m, "backlogd_config_reloads_total", "result", "success"); v != 0 {
			t.Errorf("reloads{result=success} = %v, want 0", v)
		}
		if got := strings.Join(statusTargets(t, d), ","); got != "home,acme-tracker" {
			t.Errorf("targets after a rejected reload = %s, want the old ones: home,acme-tracker", got)
		}
		if _, ok := metric(m, "backlogd_items_linked", "target", "globex-tracker"); ok {
			t.Error("the rejected config's new target has series")
		}
		if code, body := d.get("/readyz"); code != http.StatusOK {
			t.Errorf("/readyz after a rejected reload: %d %s", code, body)
		}
		// The same through the API: 400 and counted.
		code, body := opsHTTP(t, http.MethodPost, "http://"+d.addr+"/-/reload")
		if code != http.StatusBadRequest || !strings.Contains(body, "listne") {
			t.Errorf("POST /-/reload of an invalid config: %d %s, want 400 naming the key", code, body)
		}
		if v, _ := metric(scrape(t, d), "backlogd_config_reloads_total", "result", "failure"); v != 2 {
			t.Errorf("reloads{result=failure} = %v after two rejections, want 2", v)
		}
	})

	t.Run("a valid edit adding a target starts it", func(t *testing.T) {
		opsWriteConfig(t, dir, fileTargets(t, "home", "acme-tracker", "globex-tracker"), "")
		d.signal(syscall.SIGHUP)
		eventually(t, reloadTimeout, "reloads{result=success} = 1", func() bool {
			v, _ := metric(scrape(t, d), "backlogd_config_reloads_total", "result", "success")
			return v == 1
		})
		if got := strings.Join(statusTargets(t, d), ","); got != "home,acme-tracker,globex-tracker" {
			t.Errorf("targets after adding globex-tracker = %s", got)
		}
		m := scrape(t, d)
		if v, _ := metric(m, "backlogd_config_last_reload_successful"); v != 1 {
			t.Errorf("last_reload_successful = %v after a good reload, want 1", v)
		}
		for _, name := range []string{"backlogd_items_linked", "backlogd_queue_depth", "backlogd_last_full_sync_timestamp_seconds"} {
			if _, ok := metric(m, name, "target", "globex-tracker"); !ok {
				t.Errorf("%s has no series for the added target", name)
			}
		}
		if _, ok := metric(m, "backlogd_conflicts_open", "client", "globex"); !ok {
			t.Error("conflicts_open has no series for the added client")
		}
		eventually(t, startTimeout, "the added target is polled", func() bool {
			v, _ := metric(scrape(t, d), "backlogd_last_full_sync_timestamp_seconds", "target", "globex-tracker")
			return v > 0
		})
		waitReady(t, d)
	})

	t.Run("a valid edit removing a target stops it and drops its series", func(t *testing.T) {
		opsWriteConfig(t, dir, fileTargets(t, "home", "globex-tracker"), "")
		code, body := opsHTTP(t, http.MethodPost, "http://"+d.addr+"/-/reload")
		if code != http.StatusOK {
			t.Fatalf("POST /-/reload: %d %s", code, body)
		}
		if got := strings.Join(statusTargets(t, d), ","); got != "home,globex-tracker" {
			t.Errorf("targets after removing acme-tracker = %s", got)
		}
		m := scrape(t, d)
		for _, l := range lines(m) {
			if strings.Contains(l, `target="acme-tracker"`) || strings.Contains(l, `client="acme"`) {
				t.Errorf("a removed target's series is still exported: %s", l)
			}
		}
		if v, _ := metric(m, "backlogd_config_reloads_total", "result", "success"); v != 2 {
			t.Errorf("reloads{result=success} = %v, want 2", v)
		}
		waitReady(t, d)
	})

	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after reloads and SIGTERM, want 0", code)
	}
	checkLogLines(t, d.logs.Lines())
}

// deadAddress returns a loopback address nothing listens on.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func githubClientFile(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "examples", "clients", "github.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func healthcheck(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"healthcheck"}, args...)...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatal(err)
	return -1, ""
}

func TestHealthReadinessAndTheHealthcheckCommand(t *testing.T) {
	bin := opsBinary(t)

	t.Run("healthcheck fails when no daemon answers", func(t *testing.T) {
		addr := deadAddress(t)
		code, out := healthcheck(t, bin, "--addr", addr)
		if code != 1 || !strings.Contains(out, addr) {
			t.Errorf("healthcheck of %s: exit %d, %q; want 1 naming the address", addr, code, out)
		}
	})
	t.Run("healthcheck refuses a bad flag with exit 2", func(t *testing.T) {
		if code, out := healthcheck(t, bin, "--adr", "x"); code != 2 {
			t.Errorf("exit %d, %q; want 2", code, out)
		}
	})

	t.Run("a target that cannot be reached is named by readyz, which stays ready for the other clients", func(t *testing.T) {
		dir := t.TempDir()
		gh := opsTarget{Name: "acme-github", Kind: "github", Client: githubClientFile(t), Settings: map[string]string{
			"owner": "acme", "repo": "webshop", "token": "env:ACME_GITHUB_TOKEN", "base_url": "http://" + deadAddress(t) + "/",
		}}
		opsWriteConfig(t, dir, append(fileTargets(t, "home"), gh), "")
		d := startDaemon(t, bin, dir, []string{"ACME_GITHUB_TOKEN=unused-token"})

		code, body := d.get("/healthz")
		if code != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Errorf("/healthz: %d %s, want 200 ok", code, body)
		}
		if code, out := healthcheck(t, bin, "--addr", d.addr); code != 0 || strings.TrimSpace(out) != "ok" {
			t.Errorf("healthcheck: exit %d, %q; want 0, ok", code, out)
		}
		var ready string
		eventually(t, startTimeout, "/readyz names the unreachable target with the poll's error", func() bool {
			code, body := d.get("/readyz")
			ready = body
			return code == http.StatusOK && strings.Contains(body, `"failing"`) && strings.Contains(body, "acme-github: ")
		})
		if strings.Contains(ready, "home:") {
			t.Errorf("/readyz lists the reachable target as failing: %s", ready)
		}
		if code, out := healthcheck(t, bin, "--addr", d.addr, "--path", "/readyz"); code != 0 {
			t.Errorf("healthcheck --path /readyz: exit %d, %q; want 0: one client's tracker down must not take the daemon out of service", code, out)
		}
		if code, _ := d.get("/healthz"); code != http.StatusOK {
			t.Errorf("/healthz: %d while a target fails, want 200", code)
		}
	})

	t.Run("readyz and healthcheck pass once every target is reached, and fail after shutdown", func(t *testing.T) {
		dir := t.TempDir()
		opsWriteConfig(t, dir, fileTargets(t, "home", "acme-tracker", "globex-tracker"), "")
		d := startDaemon(t, bin, dir, nil)
		waitReady(t, d)
		if code, out := healthcheck(t, bin, "--addr", d.addr, "--path", "/readyz"); code != 0 {
			t.Errorf("healthcheck --path /readyz: exit %d, %q; want 0", code, out)
		}
		if code, out := healthcheck(t, bin, "--addr", d.addr); code != 0 {
			t.Errorf("healthcheck: exit %d, %q; want 0", code, out)
		}
		d.signal(syscall.SIGTERM)
		if code := d.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
		if code, _ := healthcheck(t, bin, "--addr", d.addr); code != 1 {
			t.Errorf("healthcheck after shutdown: exit %d, want 1", code)
		}
	})
}

func TestSecretsNeverAppearInLogsMetricsOrAPI(t *testing.T) {
	bin := opsBinary(t)
	const (
		token   = "ghp_S3cretT0kenThatMustNeverLeak4242"
		hookKey = "whsec_An0therSecretForWebhooks9999"
	)
	gh := githubfake.New(githubfake.Options{Token: token, Collaborators: []string{"alice-gh", "bobdev"}})
	defer gh.Close()
	dir := t.TempDir()
	target := opsTarget{Name: "acme-github", Kind: "github", Client: githubClientFile(t), Settings: map[string]string{
		"owner": "acme", "repo": "webshop", "base_url": gh.URL,
		"token": "env:ACME_GITHUB_TOKEN", "webhook_secret": "env:ACME_WEBHOOK_SECRET",
	}}
	opsWriteConfig(t, dir, append(fileTargets(t, "home"), target), "")
	d := startDaemon(t, bin, dir, []string{"ACME_GITHUB_TOKEN=" + token, "ACME_WEBHOOK_SECRET=" + hookKey})
	waitReady(t, d) // the token worked: the fake answers nothing without it
	if gh.Stats().Requests == 0 {
		t.Fatal("the daemon made no request to the fake GitHub")
	}

	// The paths where a secret could slip out: a rejected token, a webhook
	// with a wrong signature, a resync, debug logging of requests.
	gh.RejectNext()
	req, _ := http.NewRequest(http.MethodPost, "http://"+d.addr+"/webhooks/acme-github", strings.NewReader(`{"action":"edited","issue":{"number":1}}`))
	req.Header.Set("X-GitHub-Event", "issues")
	req.Header.Set("X-Hub-Signature-256", "sha256=0000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("webhook with a wrong signature: %d, want 401", resp.StatusCode)
	}
	if code, body := opsHTTP(t, http.MethodPost, "http://"+d.addr+"/api/v1/resync?target=acme-github"); code != http.StatusAccepted {
		t.Errorf("resync: %d %s", code, body)
	}
	eventually(t, reloadTimeout, "the rejected token shows as a 401 in the metrics", func() bool {
		v, _ := metric(scrape(t, d), "backlogd_tracker_requests_total", "target", "acme-github", "code", "401")
		return v >= 1
	})
	d.waitLog(reloadTimeout, func(e map[string]any) bool {
		return e["target"] == "acme-github" && (e["level"] == "WARN" || e["level"] == "ERROR")
	})

	outputs := map[string]string{}
	for _, p := range []string{"/metrics", "/api/v1/items", "/api/v1/status", "/api/v1/conflicts", "/readyz", "/healthz"} {
		_, outputs[p] = d.get(p)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	outputs["log"] = d.logs.String()
	if v, _ := metric(outputs["/metrics"], "backlogd_webhook_deliveries_total", "target", "acme-github", "result", "bad_signature"); v != 1 {
		t.Errorf("bad_signature deliveries = %v, want 1", v)
	}
	for where, out := range outputs {
		for _, secret := range []string{token, hookKey} {
			if strings.Contains(out, secret) {
				t.Errorf("a secret appears in %s", where)
			}
		}
	}
	checkLogLines(t, d.logs.Lines())
}
