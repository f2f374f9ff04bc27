// Sub-journals in memory, up to a bound. A statement that changes many
// rows inside a transaction keeps the pages it changes in a sub-journal, to
// undo itself if it fails halfway. SQLite holds the first 64 KiB in memory
// and then opens a temporary file: under load, nearly every shared commit
// created one, wrote it page by page (two calls a page) and deleted it.
// Here the "file" stays in memory until it passes SUBJOURNAL_IN_MEMORY,
// then moves to a real temporary file, so memory stays bounded (SQLite's
// temp_store = MEMORY has no bound: a large operation held hundreds of MiB).
// A sub-journal lives within one transaction of one connection, and nothing
// else reads it, so none of this is visible outside.
#include <stdlib.h>
#include <string.h>

#include "vfs.h"

// spare is the buffer of a closed in-memory journal, kept for the next one:
// its pages are mapped already. Every buffer is SUBJOURNAL_IN_MEMORY bytes
// (the kernel maps a page when it is first written), so a journal never
// grows by realloc, and one that fills its buffer moves to a file.
static unsigned char *spare;

static unsigned char *takeBuffer(void) {
  unsigned char *m = __atomic_exchange_n(&spare, NULL, __ATOMIC_ACQ_REL);
  return m != NULL ? m : malloc(SUBJOURNAL_IN_MEMORY);
}

static void giveBack(unsigned char *m) {
  if (m != NULL) free(__atomic_exchange_n(&spare, m, __ATOMIC_ACQ_REL));  // one is kept
}

// closeReal closes the real file, if it is open.
static int closeReal(HFile *p) {
  if (p->real->pMethods == NULL) return SQLITE_OK;
  int rc = p->real->pMethods->xClose(p->real);
  p->real->pMethods = NULL;
  return rc;
}

// toFile moves the journal to a real temporary file. If that fails, the
// journal stays in memory, whole, and the write that wanted the room fails.
static int toFile(HFile *p) {
  int out = 0;
  int rc = herald_parent_vfs->xOpen(herald_parent_vfs, p->name, p->real, p->flags, &out);
  if (rc == SQLITE_OK && p->memSize > 0) rc = herald_write_in_pieces(p->real, p->mem, p->memSize, 0);
  if (rc != SQLITE_OK) {
    closeReal(p);
    return rc;
  }
  giveBack(p->mem);
  p->mem = NULL;
  p->memSize = 0;
  p->inMemory = 0;
  __atomic_fetch_add(&herald_vfs_subjournal_files, 1, __ATOMIC_RELAXED);
  return SQLITE_OK;
}

static int mClose(sqlite3_file *f) {
  HFile *p = (HFile *)f;
  giveBack(p->mem);
  p->mem = NULL;
  return closeReal(p);
}

static int mRead(sqlite3_file *f, void *data, int n, sqlite3_int64 off) {
  HFile *p = (HFile *)f;
  if (!p->inMemory) return p->real->pMethods->xRead(p->real, data, n, off);
  if (off >= p->memSize) {
    memset(data, 0, n);
    return SQLITE_IOERR_SHORT_READ;
  }
  sqlite3_int64 have = p->memSize - off;
  if (have >= n) {
    memcpy(data, p->mem + off, n);
    return SQLITE_OK;
  }
  memcpy(data, p->mem + off, have);
  memset((unsigned char *)data + have, 0, n - have);
  return SQLITE_IOERR_SHORT_READ;
}

static int mWrite(sqlite3_file *f, const void *data, int n, sqlite3_int64 off) {
  HFile *p = (HFile *)f;
  if (p->inMemory && off + n > SUBJOURNAL_IN_MEMORY) {
    int rc = toFile(p);
    if (rc != SQLITE_OK) return rc;
  }
  if (!p->inMemory) return herald_write_in_pieces(p->real, data, n, off);
  if (p->mem == NULL) {
    if ((p->mem = takeBuffer()) == NULL) {
      int rc = toFile(p);
      if (rc != SQLITE_OK) return rc;
      return herald_write_in_pieces(p->real, data, n, off);
    }
  }
  if (off > p->memSize) memset(p->mem + p->memSize, 0, off - p->memSize);
  memcpy(p->mem + off, data, n);
  if (off + n > p->memSize) p->memSize = off + n;
  return SQLITE_OK;
}

static int mTruncate(sqlite3_file *f, sqlite3_int64 size) {
  HFile *p = (HFile *)f;
  if (!p->inMemory) return p->real->pMethods->xTruncate(p->real, size);
  if (size < p->memSize) p->memSize = size;
  return SQLITE_OK;
}

static int mSync(sqlite3_file *f, int flags) {
  HFile *p = (HFile *)f;
  if (!p->inMemory) return p->real->pMethods->xSync(p->real, flags);
  return SQLITE_OK;
}

static int mFileSize(sqlite3_file *f, sqlite3_int64 *size) {
  HFile *p = (HFile *)f;
  if (!p->inMemory) return p->real->pMethods->xFileSize(p->real, size);
  *size = p->memSize;
  return SQLITE_OK;
}

static int mLock(sqlite3_file *f, int l) {
  HFile *p = (HFile *)f;
  return p->inMemory ? SQLITE_OK : p->real->pMethods->xLock(p->real, l);
}

static int mUnlock(sqlite3_file *f, int l) {
  HFile *p = (HFile *)f;
  return p->inMemory ? SQLITE_OK : p->real->pMethods->xUnlock(p->real, l);
}

static int mCheckReservedLock(sqlite3_file *f, int *out) {
  HFile *p = (HFile *)f;
  if (!p->inMemory) return p->real->pMethods->xCheckReservedLock(p->real, out);
  *out = 0;
  return SQLITE_OK;
}

static int mFileControl(sqlite3_file *f, int op, void *arg) {
  HFile *p = (HFile *)f;
  return p->inMemory ? SQLITE_NOTFOUND : p->real->pMethods->xFileControl(p->real, op, arg);
}

static int mSectorSize(sqlite3_file *f) {
  HFile *p = (HFile *)f;
  return p->inMemory ? 4096 : p->real->pMethods->xSectorSize(p->real);
}

static int mDeviceCharacteristics(sqlite3_file *f) {
  HFile *p = (HFile *)f;
  return p->inMemory ? 0 : p->real->pMethods->xDeviceCharacteristics(p->real);
}

static const sqlite3_io_methods memMethods = {
    .iVersion = 1,
    .xClose = mClose,
    .xRead = mRead,
    .xWrite = mWrite,
    .xTruncate = mTruncate,
    .xSync = mSync,
    .xFileSize = mFileSize,
    .xLock = mLock,
    .xUnlock = mUnlock,
    .xCheckReservedLock = mCheckReservedLock,
    .xFileControl = mFileControl,
    .xSectorSize = mSectorSize,
    .xDeviceCharacteristics = mDeviceCharacteristics,
};

// herald_memjournal_open opens a sub-journal in memory; name and flags are
// kept for the real file, if it comes to that (SQLite keeps name valid
// until the file is closed).
int herald_memjournal_open(HFile *p, const char *name, int flags, int *outFlags) {
  p->base.pMethods = &memMethods;
  p->inMemory = 1;
  p->name = name;
  p->flags = flags;
  if (outFlags) *outFlags = flags;
  __atomic_fetch_add(&herald_vfs_subjournals, 1, __ATOMIC_RELAXED);
  return SQLITE_OK;
}
