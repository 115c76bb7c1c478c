package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/backlogd/backlogd/mapping"
)

// lockStore takes the SQLite store's process lock, <store>.lock, held
// for as long as this process syncs it. Only one process may sync a
// SQLite store: two would both find no record for a new item and both
// create one. It returns the function that releases the lock.
func lockStore(cfg *mapping.Config) (func(), error) {
	path := cfg.Store.Path + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the store: %w; check that the data directory is writable", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another backlogd process is syncing %s (it holds %s); stop it, or ask it through its listener (%s) with `backlogd resync`", cfg.Store.Path, path, cfg.Listen)
		}
		return nil, fmt.Errorf("lock the store %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
