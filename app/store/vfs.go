package store

/*
#include "vfs.h"
*/
import "C"

import "fmt"

// Herald's VFS (vfs.c) is registered in this package's init, before any
// database is open, as SQLite's default, so every connection in the
// process opens through it. It is SQLite's own VFS except for two kinds of
// file, each a cost measured under load:
//
//   - The WAL. SQLite writes each WAL frame as a 24-byte header and then
//     the page, each with its own pwrite, and an event touches 4 to 5
//     pages: 8 to 10 of the 20-odd system calls Herald made per event, on
//     machines where a system call is dear (a paravirtualised VM here). A
//     commit's writes are gathered and reach the file in one call, before
//     the commit is published to other connections (vfs.c says how), so
//     what a reader or a checkpoint sees, and what a killed process leaves
//     behind, are as without it.
//   - Sub-journals (statement journals). Past 64 KiB SQLite moves one to a
//     temporary file, created, written page by page and deleted within the
//     commit; nearly every shared commit did. They stay in memory up to
//     2 MiB (vfs_memjournal.c), then go to a file: memory stays bounded, as
//     it does not with temp_store = MEMORY. (Under batch ingest most are
//     about 1.4 MiB; a few reach 6 or 7 MiB and go to a file.)
//
// And one pragma: "PRAGMA herald_sync" fsyncs the connection's database
// file, for the checkpoint beside the writer (syncCheckpointed).
const (
	vfsName            = "herald"
	subJournalInMemory = C.SUBJOURNAL_IN_MEMORY // bytes a sub-journal holds in memory before it moves to a file
)

var vfsRegistered = int(C.herald_vfs_register())

// vfsErr says why the VFS is not in use, or nil.
func vfsErr() error {
	if vfsRegistered != 0 {
		return fmt.Errorf("register the %s VFS: SQLite error %d", vfsName, vfsRegistered)
	}
	return nil
}

// defaultVFS is the name of the VFS new connections open through.
func defaultVFS() string { return C.GoString(C.herald_default_vfs()) }

// vfsCounts are the VFS's counters since the process started, for tests.
type vfsCounts struct {
	walWrites, walFlushes        int64 // writes SQLite asked for on WAL files; writes that reached the file
	subJournals, subJournalFiles int64 // sub-journals opened; those that grew past memory into a file
	commitRewrites               int64 // commit headers written over ones already written
	barrierFlushes               int64 // commits whose frames were still gathered when published
	dbWrites                     int64 // pages written to main database files
	dbUnsyncedMax                int64 // the most pages one of SQLite's syncs of one found unsynced, since resetDBUnsyncedMax
}

func readVFSCounts() vfsCounts {
	return vfsCounts{
		walWrites: int64(C.herald_vfs_wal_writes), walFlushes: int64(C.herald_vfs_wal_flushes),
		subJournals: int64(C.herald_vfs_subjournals), subJournalFiles: int64(C.herald_vfs_subjournal_files),
		commitRewrites: int64(C.herald_vfs_commit_rewrites), barrierFlushes: int64(C.herald_vfs_barrier_flushes),
		dbWrites: int64(C.herald_vfs_db_writes), dbUnsyncedMax: int64(C.herald_vfs_db_unsynced_max),
	}
}

func resetDBUnsyncedMax() { C.herald_vfs_db_unsynced_max = 0 }

// failDatabaseSyncs makes "PRAGMA herald_sync" fail as a failed fsync would,
// for tests.
func failDatabaseSyncs(fail bool) {
	C.herald_vfs_fail_syncs = 0
	if fail {
		C.herald_vfs_fail_syncs = 1
	}
}
