package mapping

import (
	"time"

	"github.com/backlogd/backlogd/backlog"
)

// Every default of the config files lives here, so that the documentation
// (configs/backlogd.yaml, doc.go) has one place to agree with.

// Daemon defaults.
const (
	DefaultListen        = "127.0.0.1:9464"
	DefaultDataDir       = "data"
	DefaultStoreDriver   = "sqlite"
	DefaultIDPrefix      = "BL"
	DefaultClientsDir    = "clients"
	DefaultPollInterval  = 30 * time.Second
	DefaultSweepInterval = 10 * time.Minute
	DefaultWorkers       = 2
	DefaultMaxBackoff    = 5 * time.Minute
	DefaultLogLevel      = "info"
)

// defaultConfig is the daemon config before the file is read.
func defaultConfig() Config {
	return Config{
		Listen:   DefaultListen,
		DataDir:  DefaultDataDir,
		Store:    StoreConfig{Driver: DefaultStoreDriver},
		IDPrefix: DefaultIDPrefix,
		Sync: SyncConfig{
			PollInterval:  DefaultPollInterval,
			SweepInterval: DefaultSweepInterval,
			Workers:       DefaultWorkers,
			MaxBackoff:    DefaultMaxBackoff,
		},
		// Format stays empty: each command picks its own (json for run,
		// text for the interactive ones).
		Log: LogConfig{Level: DefaultLogLevel},
	}
}

// DefaultPrivate lists the fields a client file keeps private when it
// says nothing: the internal cost of an item is never a client's business.
var DefaultPrivate = []backlog.Field{backlog.FieldCost}

// defaultClient is a client before its file is read.
func defaultClient() Client {
	return Client{
		Private:        append([]backlog.Field(nil), DefaultPrivate...),
		Policy:         CanonicalWins,
		Adopt:          AdoptNew,
		OnScopeExit:    ExitUnlink,
		OnRemoteDelete: DeleteUnlink,
		CloseStatus:    backlog.Cancelled,
	}
}
