//go:build !unix

package syncer_test

func cpuTime() int64 { return 0 }
