package main

// Helpers of the operations tests (ops_test.go): they build the real
// binary once, run `backlogd run` as a child process on a temporary copy
// of a config, and read its logs, metrics and HTTP answers the way an
// operator's tools would.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// opsBinary builds cmd/backlogd into the test's temporary directory and
// returns its path. (Per test rather than in TestMain, which this package
// leaves free for its other tests; the build cache makes it a link.)
func opsBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("operations tests build and run the daemon; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "backlogd")
	cmd := exec.Command(goTool(), "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// goTool is the go command: from PATH, else the one that built this test.
func goTool() string {
	if _, err := exec.LookPath("go"); err == nil {
		return "go"
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// opsTarget is one target of a test config.
type opsTarget struct {
	Name, Kind string
	Settings   map[string]string
	Client     string // client file body
	Poll       string // the target's poll_interval ("": sync's)
}

// fileTarget is a `file` target served by one of the repository's client
// files (configs/clients/NAME.yaml).
func fileTarget(t *testing.T, name, dir, clientFile string) opsTarget {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "configs", "clients", clientFile))
	if err != nil {
		t.Fatal(err)
	}
	return opsTarget{Name: name, Kind: "file", Settings: map[string]string{"dir": dir}, Client: string(body)}
}

// opsWriteConfig writes backlogd.yaml and one client file per target into
// dir, replacing what was there. Extra lines go at the top level.
func opsWriteConfig(t *testing.T, dir string, targets []opsTarget, extra string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`listen: 127.0.0.1:0
data_dir: ./data
store: {driver: sqlite}
id_prefix: BL
clients_dir: clients
sync: {poll_interval: 200ms, sweep_interval: 10m, workers: 2, max_backoff: 2s}
log: {format: json, level: debug}
`)
	b.WriteString(extra)
	b.WriteString("targets:\n")
	clients := filepath.Join(dir, "clients")
	if err := os.RemoveAll(clients); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(clients, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		fmt.Fprintf(&b, "  - name: %s\n    kind: %s\n", tg.Name, tg.Kind)
		if tg.Poll != "" {
			fmt.Fprintf(&b, "    poll_interval: %s\n", tg.Poll)
		}
		b.WriteString("    settings:\n")
		for k, v := range tg.Settings {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
		if err := os.WriteFile(filepath.Join(clients, tg.Name+".yaml"), []byte(tg.Client), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeAtomically(t, filepath.Join(dir, "backlogd.yaml"), b.String())
}

// writeAtomically replaces path, so a reload never reads half a file.
func writeAtomically(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// opsDaemon is a running `backlogd run`.
type opsDaemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	logs *lineLog
	done chan struct{}
	err  error // Wait's result, once done is closed
}

// launchDaemon runs `backlogd run --config backlogd.yaml` in dir with env
// added to the test's environment, without waiting for it; the daemon is
// killed (continued first, should a test have paused it) when the test
// ends, and its log shown if the test failed.
func launchDaemon(t *testing.T, bin, dir string, env []string, args ...string) *opsDaemon {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "--config", "backlogd.yaml"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	d := &opsDaemon{t: t, cmd: cmd, logs: &lineLog{}, done: make(chan struct{})}
	cmd.Stderr = d.logs
	cmd.Stdout = d.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a paused daemon cannot die
		select {
		case <-d.done:
		default:
			_ = cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("log of the daemon in %s:\n%s", dir, tail(d.logs.String(), 80))
		}
	})
	return d
}

// startDaemon is launchDaemon, then waits until the daemon listens.
func startDaemon(t *testing.T, bin, dir string, env []string, args ...string) *opsDaemon {
	t.Helper()
	d := launchDaemon(t, bin, dir, env, args...)
	line := d.waitLog(30*time.Second, func(e map[string]any) bool { return e["msg"] == "backlogd started" })
	d.addr, _ = line["listen"].(string)
	if d.addr == "" {
		t.Fatalf("\"backlogd started\" has no listen address: %v", line)
	}
	return d
}

// waitLog waits for a JSON log event that match accepts and returns it.
func (d *opsDaemon) waitLog(timeout time.Duration, match func(map[string]any) bool) map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range d.logs.Lines() {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) == nil && match(e) {
				return e
			}
		}
		select {
		case <-d.done:
			d.t.Fatalf("daemon exited (%v) before the log line awaited", d.err)
		default:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("no such log line within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the daemon.
func (d *opsDaemon) signal(sig syscall.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatal(err)
	}
}

// wait waits up to timeout for the daemon to exit and returns its status.
func (d *opsDaemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		d.t.Fatalf("daemon still running %s after the signal", timeout)
	}
	var ee *exec.ExitError
	switch {
	case d.err == nil:
		return 0
	case errors.As(d.err, &ee):
		return ee.ExitCode()
	}
	d.t.Fatal(d.err)
	return -1
}

// get fetches path from the daemon and returns the status and body.
func (d *opsDaemon) get(path string) (int, string) {
	d.t.Helper()
	return opsHTTP(d.t, http.MethodGet, "http://"+d.addr+path)
}

func opsHTTP(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// eventually polls cond every 50 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of the sample of name whose labels include
// every pair of labels, and whether there is one.
func metric(scrape, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(scrape, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		n, lbl, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		all := true
		for i := 0; i+1 < len(labels); i += 2 {
			all = all && strings.Contains(lbl, labels[i]+`="`+labels[i+1]+`"`)
		}
		if !all {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		if err != nil {
			continue
		}
		return v, true
	}
	return 0, false
}

// lineLog collects a process's output by line; safe for concurrent use.
type lineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	all     bytes.Buffer
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// Lines returns the complete lines so far.
func (l *lineLog) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// scanner splits s into lines (for outputs read whole).
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
