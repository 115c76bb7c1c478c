// Command backlogd keeps one canonical product backlog in sync with every
// client's tracker. See README.md for the commands and the config files.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Set by the linker: -ldflags "-X main.version=v1.2.3 -X main.revision=abc".
var (
	version  = "dev"
	revision = "unknown"
)

const usage = `backlogd keeps one canonical backlog in sync with every client's tracker.

Usage:
  backlogd run       [--config FILE]          run the daemon
  backlogd validate  [--config FILE]          check the config offline
  backlogd plan      [--config FILE]          show what a sync would change (writes nothing)
  backlogd status    [--config FILE]          targets, queues, conflicts, last errors
  backlogd conflicts [--config FILE]          list conflicts waiting for a person
  backlogd conflicts resolve ID --take canonical|tracker
  backlogd resync    [--config FILE] [--target T] [--item BL-42]
  backlogd demo                               everything in-process, no credentials
  backlogd healthcheck [--addr HOST:PORT]     exit 0 when the daemon is healthy (container HEALTHCHECK)
  backlogd version

The config defaults to configs/backlogd.yaml, or $BACKLOGD_CONFIG.
`

// exitError carries a process exit code: 2 for bad usage or config.
// logged means the error already went to the log (run's JSON lines), so
// main does not print it again as plain text.
type exitError struct {
	code   int
	err    error
	logged bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func configError(err error) error { return &exitError{code: 2, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if ee == nil || !ee.logged {
		fmt.Fprintf(os.Stderr, "backlogd: %v\n", err)
	}
	os.Exit(code)
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2, err: errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "validate":
		return cmdValidate(ctx, rest, stdout)
	case "plan":
		return cmdPlan(ctx, rest, stdout)
	case "status":
		return cmdStatus(ctx, rest, stdout)
	case "conflicts":
		return cmdConflicts(ctx, rest, stdout)
	case "resync":
		return cmdResync(ctx, rest, stdout)
	case "demo":
		return cmdDemo(ctx, rest, stdout)
	case "healthcheck":
		return cmdHealthcheck(ctx, rest, stdout)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "backlogd %s (%s)\n", version, revision)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", cmd)}
}
