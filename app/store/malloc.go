package store

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
static int herald_set_trim_threshold(size_t n) { return mallopt(M_TRIM_THRESHOLD, (int)n); }
#else
static int herald_set_trim_threshold(size_t n) { return -1; }
#endif
*/
import "C"

import (
	"os"
	"strings"
	"sync"
)

// mallocTrimThreshold is how much free memory glibc's malloc keeps at the
// top of a heap before it hands it back to the kernel. SQLite is the only
// user of the C heap here, and each commit frees and allocates page-cache
// and statement memory by the hundred KiB. At glibc's default (128 KiB)
// every such free gave the memory back (madvise, with a TLB flush on every
// core) and the next allocation faulted it in again: 12 to 15 % of the
// process's CPU under load (perf), for no saving, since the same memory was
// needed again a millisecond later. 1 MiB stops that; RSS did not move.
// (Setting it also pins glibc's mmap threshold at 128 KiB, which it would
// otherwise raise as big blocks are freed; SQLite's blocks here are smaller:
// 10 to 13 munmap calls per 20,000 deliveries either way.)
const mallocTrimThreshold = 1 << 20

var tuneMallocOnce sync.Once

// tuneMalloc sets mallocTrimThreshold once per process, unless the
// operator set malloc's trimming in the environment: theirs stands.
func tuneMalloc() {
	tuneMallocOnce.Do(func() {
		if !mallocTunedByEnv(os.Getenv) {
			setMallocTrim(mallocTrimThreshold)
		}
	})
}

// setMallocTrim sets glibc's trim threshold to n bytes; false where the C
// library is not glibc, or it refused.
func setMallocTrim(n int) bool {
	return C.herald_set_trim_threshold(C.size_t(n)) == 1
}

// mallocTunedByEnv says whether the environment sets glibc's trim
// threshold already (MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES).
func mallocTunedByEnv(getenv func(string) string) bool {
	return getenv("MALLOC_TRIM_THRESHOLD_") != "" || strings.Contains(getenv("GLIBC_TUNABLES"), "glibc.malloc.trim_threshold")
}
