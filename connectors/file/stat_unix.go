//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package file

import (
	"io/fs"
	"syscall"
)

// fileStat is what tells one version of a file from another without
// reading it.
type fileStat struct {
	size  int64
	mtime int64 // unix nanoseconds
	ctime int64 // inode change time, unix nanoseconds; 0 where unknown
	ino   uint64
}

func statOf(fi fs.FileInfo) fileStat {
	s := fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino)
		s.ctime = ctimeOf(st)
	}
	return s
}
