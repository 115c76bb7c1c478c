// Package backlog is the canonical model of backlogd: the items of the one
// product backlog that every client tracker sees a part of.
//
// It is the noun everything else serves and imports nothing of backlogd's.
// Items are validated here; their fields can be read and written one at a
// time through Fields, the string-encoded projection the syncer's 3-way
// merge works on.
package backlog
