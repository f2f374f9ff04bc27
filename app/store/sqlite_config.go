package store

// SQLite's process-wide settings, made before it opens its first database.

/*
int sqlite3_config(int, ...);

// SQLITE_CONFIG_STMTJRNL_SPILL: the undo log of a savepoint (every op in a
// shared commit has one) stays in memory up to this many bytes, then goes
// to a temporary file.
static int herald_sub_journal_spill(int bytes) { return sqlite3_config(26, bytes); }
*/
import "C"

// subJournalSpill is how large a savepoint's undo log grows in memory
// before SQLite moves it to a file. Its default, 64 KiB, is 16 pages: an op
// in a shared commit touches more than that, so nearly every commit
// created, wrote and deleted a temporary file (an ext4 inode each time).
// 4 MiB holds what a group of events or attempts touches; a bigger one (a
// large replay) still spills, so memory stays bounded.
const subJournalSpill = 4 << 20

// configured is what sqlite3_config answered (0 is SQLITE_OK): it fails if
// SQLite was already in use, which init rules out.
var configured = int(C.herald_sub_journal_spill(C.int(subJournalSpill)))
