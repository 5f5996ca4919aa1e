// Process hardening for processes that hold keys (docs/design.md section 2):
// PR_SET_DUMPABLE=0 stops non-root ptrace and core dumps, RLIMIT_CORE=0
// stops core files even if something makes the process dumpable again,
// and mlockall keeps every page (not only the arena) out of swap.
#pragma once

#include <cstdint>
#include <string>

namespace krypton {

// prctl(PR_SET_DUMPABLE, on). Returns 0 or the errno.
int SetDumpable(bool on);
// prctl(PR_GET_DUMPABLE): 1 dumpable, 0 not, 2 (suid_dumpable "root
// only"), or -1 on error.
int GetDumpable();

// Sets the soft and hard RLIMIT_CORE to 0 (irreversible for a process
// without CAP_SYS_RESOURCE, which is the point). Returns 0 or the errno.
int DisableCoreDumps();

struct CoreLimit {
  bool ok;         // getrlimit succeeded
  bool unlimited;  // the soft limit is RLIM_INFINITY
  uint64_t soft;   // bytes, when not unlimited
};
CoreLimit CoreDumpLimit();

// mlockall(MCL_CURRENT | MCL_FUTURE). Returns 0 or the errno.
//
// Hazard: Linux refuses MADV_DONTNEED on locked pages (EINVAL), and V8
// CHECKs that call when it frees code-space pages at isolate teardown, so
// a node process that exits normally while mlockall'ed aborts (SIGTRAP).
// UnlockAllMemory must run before teardown (src/native/hardening.ts does
// it on 'exit').
int LockAllMemory();
// munlockall, then mlock the key arena again (munlockall unlocks every
// mapping, the arena included). Returns 0 or the errno.
int UnlockAllMemory();
// True while a LockAllMemory is in effect in this process (any thread).
bool MemoryLocked();

// "strerror text (ENAME)" for an errno, thread-safe.
std::string ErrnoText(int err);

}  // namespace krypton
