package file

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

const crashDirEnv = "BACKLOGD_FILE_CRASH_DIR"

// TestAKilledWriterLeavesNoTornFileAndNoDuplicate runs a writer in a
// child process, kills it with SIGKILL at random moments while it creates
// and rewrites large files, and checks the directory after every kill:
// every file parses whole, every item exists exactly once, none is
// missing. (SIGKILL leaves the page cache intact, so this checks the
// write protocol, not the fsyncs, which only a power cut tests.)
func TestAKilledWriterLeavesNoTornFileAndNoDuplicate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 42))
	highest := 0
	for round := range 20 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child is writing, then kill it mid-whatever.
		sc := bufio.NewScanner(out)
		for sc.Scan() && sc.Text() != "writing" {
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		n := checkCrashDir(t, dir)
		if n < highest {
			t.Fatalf("round %d: items went from %d to %d", round, highest, n)
		}
		highest = n
	}
	if highest == 0 {
		t.Fatal("the child never created anything; the test tested nothing")
	}
	t.Logf("%d items after 20 kills; %d kills landed mid-write (temporary files left)", highest, len(tempFiles(t, dir)))
}

// checkCrashDir checks that every item file parses and that the items
// BL-1..BL-n each exist exactly once. It returns n.
func checkCrashDir(t *testing.T, dir string) int {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, de := range des {
		name := de.Name()
		if isTemp(name) {
			continue // left by the kill; hidden and never a record
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		it, err := parse(name, raw)
		if err != nil {
			t.Fatalf("a kill left a torn file: %v", err)
		}
		if !strings.HasPrefix(it.fields.Get("description"), crashPayload) {
			t.Fatalf("%s lost its content", name)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(it.marker, "BL-"))
		if err != nil {
			t.Fatalf("%s has marker %q", name, it.marker)
		}
		if other, dup := seen[n]; dup {
			t.Fatalf("item %s exists twice: %s and %s", it.marker, other, name)
		}
		seen[n] = name
	}
	for i := 1; i <= len(seen); i++ {
		if _, ok := seen[i]; !ok {
			t.Fatalf("item BL-%d is missing while %d items exist", i, len(seen))
		}
	}
	return len(seen)
}

var crashPayload = strings.Repeat("a large description so that writes take a while. ", 4000)

// TestCrashChild is the writer TestAKilledWriterLeavesNoTornFileAndNoDuplicate
// kills. It follows the syncer's protocol: look a marker up before
// creating it, so an item whose create was interrupted is not made twice.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestAKilledWriterLeavesNoTornFileAndNoDuplicate")
	}
	c, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("writing")
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	for i := 1; ; i++ {
		marker := fmt.Sprintf("BL-%d", i)
		if _, err := c.FindByMarker(bg, marker); errors.Is(err, connectors.ErrNotFound) {
			if _, err := c.Create(bg, marker, fields("title", marker, "description", crashPayload)); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		j := 1 + rng.IntN(i)
		if _, err := c.Update(bg, fmt.Sprintf("BL-%d", j), "", fields("description", crashPayload+strconv.Itoa(i)), ""); err != nil {
			t.Fatal(err)
		}
	}
}
