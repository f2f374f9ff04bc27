// The herald VFS. See vfs.go for why it exists. It passes every call
// through to the default VFS, except "PRAGMA herald_sync" (syncDatabase)
// and two kinds of file:
//   - sub-journals (statement journals) stay in memory up to a bound
//     (vfs_memjournal.c);
//   - on a WAL file, writes that follow each other are gathered in memory
//     and written with one call. SQLite writes each WAL frame as two pwrite
//     calls (a 24-byte header, then the page): a commit of n pages cost 2n
//     system calls.
//
// When gathered writes must reach the file:
//   - when the page of a commit frame (a frame header whose "database size
//     after commit" field is not zero) has been appended: the commit's
//     write then returns the file system's error, if there is one (a
//     commit header written over one already written, when SQLite rewrites
//     checksums at commit, is written at once, for the same reason);
//   - before any other call on the WAL file (read, sync, size, truncate,
//     file control, close) and before a write elsewhere in the file;
//   - when GATHER_MAX bytes have gathered;
//   - before the connection's main database file gets xShmBarrier. SQLite
//     publishes a commit to other connections by writing the wal-index
//     header twice with a barrier between; readers use it only once both
//     copies agree, so nothing is visible before the barrier has returned.
//     This one is the guarantee; the commit frame is where errors show. A
//     write that fails here cannot be reported (the barrier returns
//     nothing), and publishing frames that are not in the file would hand
//     readers garbage, so the process stops instead, as if killed before
//     its commit returned: nothing acknowledged is lost.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vfs.h"

// At most this much is gathered.
#define GATHER_MAX WRITE_MAX
#define FRAME_HEADER 24

volatile long long herald_vfs_wal_writes;
volatile long long herald_vfs_wal_flushes;
volatile long long herald_vfs_subjournals;
volatile long long herald_vfs_subjournal_files;
volatile long long herald_vfs_commit_rewrites;
volatile long long herald_vfs_barrier_flushes;
volatile long long herald_vfs_db_writes;
volatile long long herald_vfs_db_unsynced_max;
volatile int herald_vfs_fail_syncs;
static volatile long long dbSyncedWrites;  // herald_vfs_db_writes at the last sync

// dbSynced counts the pages written so far to main databases as synced,
// and answers how many were not.
static long long dbSynced(void) {
  long long w = __atomic_load_n(&herald_vfs_db_writes, __ATOMIC_RELAXED);
  return w - __atomic_exchange_n(&dbSyncedWrites, w, __ATOMIC_RELAXED);
}

sqlite3_vfs *herald_parent_vfs;
#define parent herald_parent_vfs
static sqlite3_vfs hvfs;

#define REAL(f) (((HFile *)(f))->real)

// flush writes what has gathered, in one call.
static int flush(HFile *p) {
  if (p->len == 0) return SQLITE_OK;
  int n = p->len;
  p->len = 0;
  __atomic_fetch_add(&herald_vfs_wal_flushes, 1, __ATOMIC_RELAXED);
  return p->real->pMethods->xWrite(p->real, p->buf, n, p->off);
}

// herald_write_in_pieces writes n bytes to a file of the default VFS in
// calls it can take.
int herald_write_in_pieces(sqlite3_file *real, const unsigned char *data, sqlite3_int64 n, sqlite3_int64 off) {
  while (n > WRITE_MAX) {
    int rc = real->pMethods->xWrite(real, data, WRITE_MAX, off);
    if (rc != SQLITE_OK) return rc;
    data += WRITE_MAX;
    off += WRITE_MAX;
    n -= WRITE_MAX;
  }
  return real->pMethods->xWrite(real, data, (int)n, off);
}

static int hWrite(sqlite3_file *f, const void *data, int n, sqlite3_int64 off) {
  HFile *p = (HFile *)f;
  if (!p->isWal) {
    if (p->isMainDB) __atomic_fetch_add(&herald_vfs_db_writes, 1, __ATOMIC_RELAXED);
    return p->real->pMethods->xWrite(p->real, data, n, off);
  }
  __atomic_fetch_add(&herald_vfs_wal_writes, 1, __ATOMIC_RELAXED);
  const unsigned char *h = data;
  int commitHeader = n == FRAME_HEADER && (h[4] | h[5] | h[6] | h[7]) != 0;
  int commitPage = p->commitPageAt != 0 && off == p->commitPageAt;
  p->commitPageAt = commitHeader ? off + FRAME_HEADER : 0;
  if (off == 0) p->end = 0;  // a new header: the WAL starts over
  int over = off + n <= p->end;
  if (!over) p->end = off + n;
  int rc;
  if (p->len > 0 && (off != p->off + p->len || p->len + n > GATHER_MAX)) {
    if ((rc = flush(p)) != SQLITE_OK) return rc;
  }
  // Written at once: a commit frame's header written over one already
  // written (SQLite rewriting checksums at commit; no page follows it, so
  // this is the last chance to report an error), and what does not fit.
  if (commitHeader && over) __atomic_fetch_add(&herald_vfs_commit_rewrites, 1, __ATOMIC_RELAXED);
  if ((commitHeader && over) || n > GATHER_MAX || (p->buf == NULL && (p->buf = malloc(GATHER_MAX)) == NULL)) {
    if ((rc = flush(p)) != SQLITE_OK) return rc;
    __atomic_fetch_add(&herald_vfs_wal_flushes, 1, __ATOMIC_RELAXED);
    return p->real->pMethods->xWrite(p->real, data, n, off);
  }
  if (p->len == 0) p->off = off;
  memcpy(p->buf + p->len, data, n);
  p->len += n;
  if (commitPage) return flush(p);
  return SQLITE_OK;
}

static int hClose(sqlite3_file *f) {
  HFile *p = (HFile *)f;
  int rc = flush(p);
  if (p->db && p->db->wal == p) p->db->wal = NULL;
  if (p->wal && p->wal->db == p) p->wal->db = NULL;
  int rc2 = p->real->pMethods->xClose(p->real);
  free(p->buf);
  p->buf = NULL;
  return rc != SQLITE_OK ? rc : rc2;
}

// The WAL's other calls see the file as SQLite wrote it: gathered writes
// go first.
#define FLUSHED(call)                              \
  HFile *p = (HFile *)f;                           \
  int rc = flush(p);                               \
  if (rc != SQLITE_OK) return rc;                  \
  return p->real->pMethods->call;

static int hRead(sqlite3_file *f, void *data, int n, sqlite3_int64 off) { FLUSHED(xRead(p->real, data, n, off)) }
static int hTruncate(sqlite3_file *f, sqlite3_int64 size) {
  HFile *p = (HFile *)f;
  if (size < p->end) p->end = size;
  int rc = flush(p);
  if (rc != SQLITE_OK) return rc;
  return p->real->pMethods->xTruncate(p->real, size);
}
static int hSync(sqlite3_file *f, int flags) {
  if (((HFile *)f)->isMainDB) {
    long long unsynced = dbSynced();
    if (unsynced > herald_vfs_db_unsynced_max) herald_vfs_db_unsynced_max = unsynced;
  }
  FLUSHED(xSync(p->real, flags))
}
static int hFileSize(sqlite3_file *f, sqlite3_int64 *size) { FLUSHED(xFileSize(p->real, size)) }

// syncDatabase fsyncs a main database file for "PRAGMA herald_sync" (see
// syncCheckpointed in background.go), through the default VFS's own file:
// a descriptor of Herald's, once closed, would drop SQLite's POSIX locks.
static int syncDatabase(HFile *p) {
  if (herald_vfs_fail_syncs) return SQLITE_IOERR_FSYNC;
  dbSynced();
  return p->real->pMethods->xSync(p->real, SQLITE_SYNC_NORMAL);
}

static int hFileControl(sqlite3_file *f, int op, void *arg) {
  if (op == SQLITE_FCNTL_PRAGMA && ((HFile *)f)->isMainDB) {
    char **a = arg;  // [0] the answer, [1] the pragma's name, [2] its value
    if (a[1] != NULL && strcasecmp(a[1], "herald_sync") == 0) return syncDatabase((HFile *)f);
  }
  FLUSHED(xFileControl(p->real, op, arg))
}

static int hLock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int hUnlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int hCheckReservedLock(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int hSectorSize(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int hDeviceCharacteristics(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int hShmMap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp) { return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp); }
static int hShmLock(sqlite3_file *f, int off, int n, int flags) { return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags); }
static int hShmUnmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int hFetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp); }
static int hUnfetch(sqlite3_file *f, sqlite3_int64 off, void *ptr) { return REAL(f)->pMethods->xUnfetch(REAL(f), off, ptr); }

static void hShmBarrier(sqlite3_file *f) {
  HFile *p = (HFile *)f;
  if (p->wal && p->wal->len > 0) __atomic_fetch_add(&herald_vfs_barrier_flushes, 1, __ATOMIC_RELAXED);
  if (p->wal && flush(p->wal) != SQLITE_OK) {
    fprintf(stderr, "herald: cannot write the WAL before publishing a commit; stopping so that no reader sees it\n");
    abort();
  }
  p->real->pMethods->xShmBarrier(p->real);
}

// wrap fills p->methods: the real file's, with ours in each slot it has.
static void wrap(HFile *p) {
  const sqlite3_io_methods *r = p->real->pMethods;
  sqlite3_io_methods *m = &p->methods;
  memset(m, 0, sizeof(*m));
  m->iVersion = r->iVersion > 3 ? 3 : r->iVersion;
#define SLOT(x, h) m->x = r->x ? h : NULL
  SLOT(xClose, hClose);
  SLOT(xRead, hRead);
  SLOT(xWrite, hWrite);
  SLOT(xTruncate, hTruncate);
  SLOT(xSync, hSync);
  SLOT(xFileSize, hFileSize);
  SLOT(xLock, hLock);
  SLOT(xUnlock, hUnlock);
  SLOT(xCheckReservedLock, hCheckReservedLock);
  SLOT(xFileControl, hFileControl);
  SLOT(xSectorSize, hSectorSize);
  SLOT(xDeviceCharacteristics, hDeviceCharacteristics);
  if (m->iVersion >= 2) {
    SLOT(xShmMap, hShmMap);
    SLOT(xShmLock, hShmLock);
    SLOT(xShmBarrier, hShmBarrier);
    SLOT(xShmUnmap, hShmUnmap);
  }
  if (m->iVersion >= 3) {
    SLOT(xFetch, hFetch);
    SLOT(xUnfetch, hUnfetch);
  }
#undef SLOT
}

static int hOpen(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *outFlags) {
  HFile *p = (HFile *)f;
  memset(p, 0, sizeof(*p));
  p->real = (sqlite3_file *)&p[1];
  p->real->pMethods = NULL;
  if (flags & SQLITE_OPEN_SUBJOURNAL) return herald_memjournal_open(p, name, flags, outFlags);
  int rc = parent->xOpen(parent, name, p->real, flags, outFlags);
  if (p->real->pMethods == NULL) return rc;  // nothing to close
  wrap(p);
  p->base.pMethods = &p->methods;
  p->isMainDB = (flags & SQLITE_OPEN_MAIN_DB) != 0;
  if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && name != NULL) {
    p->isWal = 1;
    sqlite3_file *db = sqlite3_database_file_object(name);
    if (db != NULL && db->pMethods == &((HFile *)db)->methods) {
      p->db = (HFile *)db;
      p->db->wal = p;
    }
  }
  return rc;
}

#define PASS(ret, name, params, args) \
  static ret name params { return parent->name args; }
PASS(int, xDelete, (sqlite3_vfs * v, const char *z, int s), (parent, z, s))
PASS(int, xAccess, (sqlite3_vfs * v, const char *z, int fl, int *o), (parent, z, fl, o))
PASS(int, xFullPathname, (sqlite3_vfs * v, const char *z, int n, char *o), (parent, z, n, o))
PASS(void *, xDlOpen, (sqlite3_vfs * v, const char *z), (parent, z))
PASS(int, xRandomness, (sqlite3_vfs * v, int n, char *o), (parent, n, o))
PASS(int, xSleep, (sqlite3_vfs * v, int us), (parent, us))
PASS(int, xCurrentTime, (sqlite3_vfs * v, double *t), (parent, t))
PASS(int, xGetLastError, (sqlite3_vfs * v, int n, char *o), (parent, n, o))
PASS(int, xCurrentTimeInt64, (sqlite3_vfs * v, sqlite3_int64 *t), (parent, t))
#undef PASS

static void xDlError(sqlite3_vfs *v, int n, char *msg) { parent->xDlError(parent, n, msg); }
static void (*xDlSym(sqlite3_vfs *v, void *h, const char *sym))(void) { return parent->xDlSym(parent, h, sym); }
static void xDlClose(sqlite3_vfs *v, void *h) { parent->xDlClose(parent, h); }

const char *herald_default_vfs(void) {
  sqlite3_vfs *d = sqlite3_vfs_find(NULL);
  return d ? d->zName : "";
}

int herald_vfs_register(void) {
  if (parent != NULL) return SQLITE_OK;
  sqlite3_vfs *d = sqlite3_vfs_find(NULL);
  if (d == NULL) return SQLITE_ERROR;
  hvfs.iVersion = 2;  // no system-call overrides: those stay the default VFS's
  hvfs.szOsFile = (int)sizeof(HFile) + d->szOsFile;
  hvfs.mxPathname = d->mxPathname;
  hvfs.zName = "herald";
  hvfs.xOpen = hOpen;
  hvfs.xDelete = d->xDelete ? xDelete : NULL;
  hvfs.xAccess = d->xAccess ? xAccess : NULL;
  hvfs.xFullPathname = d->xFullPathname ? xFullPathname : NULL;
  hvfs.xDlOpen = d->xDlOpen ? xDlOpen : NULL;
  hvfs.xDlError = d->xDlError ? xDlError : NULL;
  hvfs.xDlSym = d->xDlSym ? xDlSym : NULL;
  hvfs.xDlClose = d->xDlClose ? xDlClose : NULL;
  hvfs.xRandomness = d->xRandomness ? xRandomness : NULL;
  hvfs.xSleep = d->xSleep ? xSleep : NULL;
  hvfs.xCurrentTime = d->xCurrentTime ? xCurrentTime : NULL;
  hvfs.xGetLastError = d->xGetLastError ? xGetLastError : NULL;
  hvfs.xCurrentTimeInt64 = d->iVersion >= 2 && d->xCurrentTimeInt64 ? xCurrentTimeInt64 : NULL;
  parent = d;
  int rc = sqlite3_vfs_register(&hvfs, 1);
  if (rc != SQLITE_OK) parent = NULL;
  return rc;
}
