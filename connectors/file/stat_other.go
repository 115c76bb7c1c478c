//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package file

import "io/fs"

// fileStat is what tells one version of a file from another without
// reading it. Without an inode change time, a tool that restores an old
// modification time (cp -p, tar) can hide a change from Changes until
// the syncer's periodic sweep.
type fileStat struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
}

func statOf(fi fs.FileInfo) fileStat {
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}
