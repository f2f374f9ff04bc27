package store

/*
#include "walvfs.h"
*/
import "C"

import (
	"fmt"
	"sync"
)

// walVFS is the name of the VFS in walvfs.c, which every connection opens
// the database through: SQLite's default VFS, except that a commit's WAL
// writes reach the file in one system call instead of two per page.
//
// Why: SQLite writes each WAL frame as a 24-byte header and then the page,
// each with its own pwrite, and an event touches 4 to 5 pages: 8 to 10 of
// the 20-odd system calls Herald made per event, on machines where a system
// call is dear (a paravirtualised VM here). The gathered writes reach the
// file before the commit is published to other connections (walvfs.c says
// how), so what a reader or a checkpoint sees, and what a killed process
// leaves behind, are as without it.
const walVFS = "herald"

var (
	walVFSOnce sync.Once
	walVFSErr  error
)

// registerWALVFS registers walVFS once per process.
func registerWALVFS() error {
	walVFSOnce.Do(func() {
		if rc := C.herald_walvfs_register(); rc != C.SQLITE_OK {
			walVFSErr = fmt.Errorf("register the %s VFS: SQLite error %d", walVFS, int(rc))
		}
	})
	return walVFSErr
}

// walVFSCounts says how many writes SQLite asked for on WAL files since the
// process started, and how many reached the file system.
func walVFSCounts() (asked, written int64) {
	return int64(C.herald_walvfs_wal_writes), int64(C.herald_walvfs_wal_flushes)
}
