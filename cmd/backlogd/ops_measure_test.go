package main

// Figures for the operations issue, measured on the real binary. They
// print numbers and assert only that the daemon got there; run with
//
//	BACKLOGD_MEASURE=1 go test -run TestMeasure -v -timeout 30m ./cmd/backlogd

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func measureOnly(t *testing.T) {
	t.Helper()
	if os.Getenv("BACKLOGD_MEASURE") == "" {
		t.Skip("measurement: set BACKLOGD_MEASURE=1 to run")
	}
}

// rssKiB reads the resident set size of pid.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func waitIdle(t *testing.T, d *opsDaemon, targets []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "every queue empty", func() bool {
		m := scrape(t, d)
		for _, tg := range targets {
			if v, ok := metric(m, "backlogd_queue_depth", "target", tg); !ok || v != 0 {
				return false
			}
		}
		return true
	})
}

func TestMeasureScrapeWithTwentyTargets(t *testing.T) {
	measureOnly(t)
	bin := opsBinary(t)
	dir := t.TempDir()
	acme, err := os.ReadFile(filepath.Join("..", "..", "configs", "clients", "acme.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	targets := fileTargets(t, "home")
	var names []string
	for i := 1; i < 20; i++ {
		name := fmt.Sprintf("client%02d-tracker", i)
		client := strings.NewReplacer("client: acme", fmt.Sprintf("client: client%02d", i),
			"target: acme-tracker", "target: "+name, "clients has acme", fmt.Sprintf("clients has client%02d", i)).Replace(string(acme))
		targets = append(targets, opsTarget{Name: name, Kind: "file", Settings: map[string]string{"dir": "./data/" + name}, Client: client})
		names = append(names, name)
	}
	opsWriteConfig(t, dir, targets, "")
	d := startDaemon(t, bin, dir, nil)
	waitReady(t, d)
	waitIdle(t, d, names, time.Minute)
	time.Sleep(6 * time.Second) // a gauge refresh and a few polls
	m := scrape(t, d)
	series, ours := 0, 0
	for _, l := range lines(m) {
		if l == "" || l[0] == '#' {
			continue
		}
		series++
		if strings.HasPrefix(l, "backlogd_") {
			ours++
		}
	}
	t.Logf("20 targets: /metrics is %d bytes, %d series (%d backlogd_*, %d runtime and process)", len(m), series, ours, series-ours)
	t.Logf("RSS at idle with 20 empty targets: %d KiB", rssKiB(t, d.cmd.Process.Pid))
	d.signal(syscall.SIGTERM)
	d.wait(30 * time.Second)
}

func TestMeasureReadyWithTenThousandLinkedItems(t *testing.T) {
	measureOnly(t)
	const n = 10000
	bin := opsBinary(t)
	dir := t.TempDir()
	home := filepath.Join(dir, "data", "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		body := fmt.Sprintf("kind: story\ntitle: Item %d\nstatus: todo\nphase: build\nclients:\n  - acme\n", i)
		if err := os.WriteFile(filepath.Join(home, fmt.Sprintf("item-%05d.yaml", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	targets := fileTargets(t, "home", "acme-tracker")
	opsWriteConfig(t, dir, targets, "")
	// First run: adopt every file at home and create it on acme-tracker.
	start := time.Now()
	d := startDaemon(t, bin, dir, nil)
	eventually(t, 20*time.Minute, "10,000 items linked on both targets", func() bool {
		code, body := d.get("/metrics")
		if code != http.StatusOK {
			return false
		}
		a, _ := metric(body, "backlogd_items_linked", "target", "home")
		b, _ := metric(body, "backlogd_items_linked", "target", "acme-tracker")
		return a == n && b == n
	})
	t.Logf("onboarding %d items (adopt at home, create on acme-tracker): %s", n, time.Since(start).Round(time.Second))
	waitIdle(t, d, []string{"home", "acme-tracker"}, 10*time.Minute)
	d.signal(syscall.SIGTERM)
	if code := d.wait(time.Minute); code != 0 {
		t.Fatalf("exit %d", code)
	}

	// Second run: a restart with 2 x 10,000 links in the store.
	start = time.Now()
	d = startDaemon(t, bin, dir, nil)
	listening := time.Since(start)
	waitReady(t, d)
	ready := time.Since(start)
	waitIdle(t, d, []string{"home", "acme-tracker"}, 10*time.Minute)
	swept := time.Since(start)
	time.Sleep(6 * time.Second)
	t.Logf("restart with %d items linked on 2 targets: listening after %s, /readyz OK after %s, start-up sweep of %d keys done after %s",
		n, listening.Round(time.Millisecond), ready.Round(time.Millisecond), 2*n, swept.Round(100*time.Millisecond))
	t.Logf("RSS at idle with %d items on 2 targets: %d KiB", n, rssKiB(t, d.cmd.Process.Pid))
	st, _ := os.Stat(filepath.Join(dir, "data", "backlogd.db"))
	if st != nil {
		t.Logf("SQLite store: %.1f MB", float64(st.Size())/1e6)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(time.Minute); code != 0 {
		t.Fatalf("exit %d after the sweep", code)
	}
}
