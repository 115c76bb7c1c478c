//go:build !unix

package sqlite_test

func cpuTime() int64 { return 0 }
