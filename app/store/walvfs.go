package store

/*
#include "walvfs.h"
*/
import "C"

import "fmt"

// SQLite's process-wide setup, made in this package's init, before any
// database is open: later, sqlite3_config is refused and a new default VFS
// would miss the connections already open.
//
// The VFS in walvfs.c becomes the default: SQLite's own, except that a
// commit's WAL writes reach the file in one system call instead of two per
// page, and that big writes go in pieces the default VFS can take. Why:
// SQLite writes each WAL frame as a 24-byte header and then the page, each
// with its own pwrite, and an event touches 4 to 5 pages: 8 to 10 of the
// 20-odd system calls Herald made per event, on machines where a system
// call is dear (a paravirtualised VM here). The gathered writes reach the
// file before the commit is published to other connections (walvfs.c says
// how), so what a reader or a checkpoint sees, and what a killed process
// leaves behind, are as without it.
//
// subJournalSpill is how large a statement's undo journal grows in memory
// before SQLite moves it to a temporary file. SQLite's default, 64 KiB, is
// 32 pages: the multi-row statements of a shared commit pass it, so nearly
// every commit created, wrote page by page and deleted a file. 4 MiB holds
// what a group of events or attempts touches; a bigger operation (a large
// replay) still spills, so memory stays bounded. (Raising it without the
// VFS made big batches fail as a full disk: the default VFS cannot write
// the spilled chunk in one call; TestBigBatchesAtOnce.)
const (
	walVFS          = "herald"
	subJournalSpill = 4 << 20
)

var sqliteSetup = setUpSQLite()

type sqliteSetupResult struct {
	configRC, registerRC int // SQLite's answers; 0 is SQLITE_OK
}

func setUpSQLite() sqliteSetupResult {
	var configRC C.int
	rc := C.herald_sqlite_setup(C.int(subJournalSpill), &configRC)
	return sqliteSetupResult{configRC: int(configRC), registerRC: int(rc)}
}

// err says what of the setup did not take, or nil.
func (r sqliteSetupResult) err() error {
	switch {
	case r.registerRC != 0:
		return fmt.Errorf("register the %s VFS: SQLite error %d (WAL writes go one page at a time)", walVFS, r.registerRC)
	case r.configRC != 0:
		return fmt.Errorf("set the statement journal's spill size: SQLite error %d (SQLite was in use before the store's init)", r.configRC)
	}
	return nil
}

// defaultVFS is the name of the VFS new connections open through.
func defaultVFS() string { return C.GoString(C.herald_default_vfs()) }

// walVFSCounts says how many writes SQLite asked for on WAL files since the
// process started, and how many reached the file system.
func walVFSCounts() (asked, written int64) {
	return int64(C.herald_walvfs_wal_writes), int64(C.herald_walvfs_wal_flushes)
}
