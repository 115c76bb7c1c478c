package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/backlogd/backlogd/connectors"
)

// Temporary files are hidden (a leading dot), so listings, editors' file
// pickers and `git status` with a .gitignore of ".*" skip them.
const tmpInfix = ".tmp-"

func isTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".yaml"+tmpInfix)
}

// errExists: a create found the name taken.
var errExists = errors.New("file exists")

// writeAtomic replaces (or, with create, makes) dir/name with data so that
// a crash at any moment leaves either the old file or the new one, both
// whole: write a temporary file in the same directory, fsync it, move it
// into place, fsync the directory so the move itself survives a power
// cut. A create links the temporary file into place, which fails when
// the name exists instead of replacing it.
func writeAtomic(dir, name string, data []byte, perm fs.FileMode, create bool) (err error) {
	f, err := os.CreateTemp(dir, "."+name+tmpInfix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, name)
	if create {
		err = os.Link(tmp, final)
		switch {
		case err == nil:
			if err := os.Remove(tmp); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
			return errExists
		default:
			// A file system without hard links: check, then rename. The
			// caller holds the connector's write lock, so only a person
			// racing us in the same instant can be overwritten.
			if _, serr := os.Lstat(final); serr == nil {
				return errExists
			}
			if err = os.Rename(tmp, final); err != nil {
				return err
			}
		}
	} else if err = os.Rename(tmp, final); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing; NTFS journals renames
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		// Some file systems cannot sync a directory; the rename is then as
		// durable as they make it.
		return err
	}
	return nil
}

// removeStaleTemps deletes temporary files a crashed process left behind.
// Only old ones go: a younger one may belong to another process writing
// into the same directory right now.
func removeStaleTemps(dir string, olderThan time.Duration) (int, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, de := range des {
		if !isTemp(de.Name()) {
			continue
		}
		fi, err := de.Info()
		if err != nil || time.Since(fi.ModTime()) < olderThan {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err == nil {
			n++
		}
	}
	return n, nil
}

// classifyWrite turns an I/O error into what the syncer should do with it:
// a directory backlogd may not write to, or a read-only file system, is
// terminal (a person must fix it); anything else (a full disk, a
// transient NFS error) is retried.
func classifyWrite(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return connectors.Terminal(fmt.Errorf("file: write %s: %w; make the directory writable by the user backlogd runs as", path, err))
	}
	return fmt.Errorf("file: write %s: %w", path, err)
}
