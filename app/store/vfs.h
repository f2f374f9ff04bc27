// The parts of SQLite's VFS interface that vfs.c and vfs_memjournal.c need. The layouts are
// SQLite's stable ABI (sqlite3.h, "OS Interface Object", iVersion 3); the
// functions come from the SQLite that github.com/mattn/go-sqlite3 compiles
// into the same binary.
#ifndef HERALD_VFS_H
#define HERALD_VFS_H

typedef long long int sqlite3_int64;
typedef struct sqlite3_file sqlite3_file;
typedef struct sqlite3_io_methods sqlite3_io_methods;
typedef struct sqlite3_vfs sqlite3_vfs;
typedef void (*sqlite3_syscall_ptr)(void);

struct sqlite3_file {
  const sqlite3_io_methods *pMethods;
};

struct sqlite3_io_methods {
  int iVersion;
  int (*xClose)(sqlite3_file *);
  int (*xRead)(sqlite3_file *, void *, int iAmt, sqlite3_int64 iOfst);
  int (*xWrite)(sqlite3_file *, const void *, int iAmt, sqlite3_int64 iOfst);
  int (*xTruncate)(sqlite3_file *, sqlite3_int64 size);
  int (*xSync)(sqlite3_file *, int flags);
  int (*xFileSize)(sqlite3_file *, sqlite3_int64 *pSize);
  int (*xLock)(sqlite3_file *, int);
  int (*xUnlock)(sqlite3_file *, int);
  int (*xCheckReservedLock)(sqlite3_file *, int *pResOut);
  int (*xFileControl)(sqlite3_file *, int op, void *pArg);
  int (*xSectorSize)(sqlite3_file *);
  int (*xDeviceCharacteristics)(sqlite3_file *);
  int (*xShmMap)(sqlite3_file *, int iPg, int pgsz, int, void volatile **);
  int (*xShmLock)(sqlite3_file *, int offset, int n, int flags);
  void (*xShmBarrier)(sqlite3_file *);
  int (*xShmUnmap)(sqlite3_file *, int deleteFlag);
  int (*xFetch)(sqlite3_file *, sqlite3_int64 iOfst, int iAmt, void **pp);
  int (*xUnfetch)(sqlite3_file *, sqlite3_int64 iOfst, void *p);
};

struct sqlite3_vfs {
  int iVersion;
  int szOsFile;
  int mxPathname;
  sqlite3_vfs *pNext;
  const char *zName;
  void *pAppData;
  int (*xOpen)(sqlite3_vfs *, const char *zName, sqlite3_file *, int flags, int *pOutFlags);
  int (*xDelete)(sqlite3_vfs *, const char *zName, int syncDir);
  int (*xAccess)(sqlite3_vfs *, const char *zName, int flags, int *pResOut);
  int (*xFullPathname)(sqlite3_vfs *, const char *zName, int nOut, char *zOut);
  void *(*xDlOpen)(sqlite3_vfs *, const char *zFilename);
  void (*xDlError)(sqlite3_vfs *, int nByte, char *zErrMsg);
  void (*(*xDlSym)(sqlite3_vfs *, void *, const char *zSymbol))(void);
  void (*xDlClose)(sqlite3_vfs *, void *);
  int (*xRandomness)(sqlite3_vfs *, int nByte, char *zOut);
  int (*xSleep)(sqlite3_vfs *, int microseconds);
  int (*xCurrentTime)(sqlite3_vfs *, double *);
  int (*xGetLastError)(sqlite3_vfs *, int, char *);
  int (*xCurrentTimeInt64)(sqlite3_vfs *, sqlite3_int64 *);
  int (*xSetSystemCall)(sqlite3_vfs *, const char *zName, sqlite3_syscall_ptr);
  sqlite3_syscall_ptr (*xGetSystemCall)(sqlite3_vfs *, const char *zName);
  const char *(*xNextSystemCall)(sqlite3_vfs *, const char *zName);
};

#define SQLITE_OK 0
#define SQLITE_ERROR 1
#define SQLITE_NOTFOUND 12
#define SQLITE_IOERR_SHORT_READ (10 | (2 << 8))
#define SQLITE_IOERR_FSYNC (10 | (4 << 8))
#define SQLITE_SYNC_NORMAL 0x00002
#define SQLITE_FCNTL_PRAGMA 14
#define SQLITE_OPEN_MAIN_DB 0x00000100
#define SQLITE_OPEN_SUBJOURNAL 0x00002000
#define SQLITE_OPEN_WAL 0x00080000

sqlite3_vfs *sqlite3_vfs_find(const char *zVfsName);
int sqlite3_vfs_register(sqlite3_vfs *, int makeDflt);
sqlite3_file *sqlite3_database_file_object(const char *);

// herald_vfs_register registers the VFS "herald" over the default one and
// makes it the default; SQLITE_OK, or SQLite's error.
int herald_vfs_register(void);

// herald_default_vfs is the name of the VFS new connections use.
const char *herald_default_vfs(void);

// Counters for tests: writes SQLite asked for on WAL files, and the writes
// that reached the file system; sub-journals opened, and those that grew
// past memory into a file.
extern volatile long long herald_vfs_wal_writes;
extern volatile long long herald_vfs_wal_flushes;
extern volatile long long herald_vfs_subjournals;
extern volatile long long herald_vfs_subjournal_files;
// Commit headers written over ones already written (checksums rewritten at
// commit); barriers that found gathered writes still to make.
extern volatile long long herald_vfs_commit_rewrites;
extern volatile long long herald_vfs_barrier_flushes;
// Pages written to main database files; the most that one of SQLite's
// syncs of one found written since the sync before (tests reset it).
extern volatile long long herald_vfs_db_writes;
extern volatile long long herald_vfs_db_unsynced_max;
// Tests: "PRAGMA herald_sync" fails while this is not zero.
extern volatile int herald_vfs_fail_syncs;

// The file object of the VFS, shared by vfs.c and vfs_memjournal.c.
typedef struct HFile HFile;
struct HFile {
  sqlite3_file base;           // base.pMethods: methods below, or a sub-journal's
  sqlite3_io_methods methods;  // the real file's, each slot wrapped (not for sub-journals)
  sqlite3_file *real;          // the default VFS's file, after this struct
  HFile *wal;                  // a main database: its connection's open WAL
  HFile *db;                   // a WAL: its main database, if one of ours
  int isWal;
  int isMainDB;
  sqlite3_int64 commitPageAt;  // where the page of the commit header just written goes; 0 if none
  sqlite3_int64 end;           // the end of what SQLite wrote since the WAL's header
  unsigned char *buf;
  int len;
  sqlite3_int64 off;  // the file offset of buf[0]
  // A sub-journal in memory (vfs_memjournal.c): mem holds its memSize bytes
  // until it grows past SUBJOURNAL_IN_MEMORY; then the real file opens.
  int inMemory;
  unsigned char *mem;
  sqlite3_int64 memSize;
  const char *name;
  int flags;
};

// Bytes a sub-journal holds in memory before it moves to a file.
#define SUBJOURNAL_IN_MEMORY (2 << 20)

// The default VFS, which the herald VFS wraps.
extern sqlite3_vfs *herald_parent_vfs;

// Most bytes the default VFS writes in one call (it masks the length with
// 0x1ffff and reports a shorter write as a full disk), with room to spare.
#define WRITE_MAX (64 * 1024)

int herald_write_in_pieces(sqlite3_file *real, const unsigned char *data, sqlite3_int64 n, sqlite3_int64 off);
int herald_memjournal_open(HFile *p, const char *name, int flags, int *outFlags);

#endif
