// Clang's thread-safety annotations (-Wthread-safety), as macros that vanish
// under other compilers. The checker proves, at compile time, that every
// member marked GUARDED_BY(mu_) is touched only with mu_ held, that a
// function marked REQUIRES(mu_) is called only with it held, and that locks
// declared ACQUIRED_AFTER/ACQUIRED_BEFORE are taken in that order.
//
// The checker understands only capabilities, so locks are common/mutex.h's
// Mutex and MutexLock rather than std::mutex (libstdc++'s is not annotated).
// tools/thread_safety.sh runs the check over the tree; CI runs it.
// Reference: https://clang.llvm.org/docs/ThreadSafetyAnalysis.html
#pragma once

#if defined(__clang__)
#define STRATA_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define STRATA_THREAD_ANNOTATION(x)
#endif

// On a class: objects of it are locks ("mutex").
#define CAPABILITY(x) STRATA_THREAD_ANNOTATION(capability(x))
// On a class: an RAII holder of a lock (MutexLock).
#define SCOPED_CAPABILITY STRATA_THREAD_ANNOTATION(scoped_lockable)

// On a member: read and written only with the lock held.
#define GUARDED_BY(x) STRATA_THREAD_ANNOTATION(guarded_by(x))
// On a pointer member: what it points to is guarded by the lock.
#define PT_GUARDED_BY(x) STRATA_THREAD_ANNOTATION(pt_guarded_by(x))

// On a lock member: the lock order. A thread holding the locks named may
// take this one (ACQUIRED_AFTER), or must not hold this one when it takes
// them (ACQUIRED_BEFORE).
#define ACQUIRED_AFTER(...) STRATA_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) STRATA_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))

// On a function: callers must hold the lock (exclusively / at least shared).
#define REQUIRES(...) STRATA_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) STRATA_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
// On a function: callers must not hold the lock (the function takes it).
#define EXCLUDES(...) STRATA_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))

// On a function: it takes / releases the lock and returns holding / not holding it.
#define ACQUIRE(...) STRATA_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) STRATA_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) STRATA_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) STRATA_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) STRATA_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))

// On a function: it returns a reference to the lock named.
#define RETURN_CAPABILITY(x) STRATA_THREAD_ANNOTATION(lock_returned(x))
// On a function: asserts (at run time, or by contract) that the lock is held.
#define ASSERT_CAPABILITY(x) STRATA_THREAD_ANNOTATION(assert_capability(x))

// On a function the checker cannot follow (a lock handed between threads, a
// callback run under a lock it cannot see). Say why beside every use.
#define NO_THREAD_SAFETY_ANALYSIS STRATA_THREAD_ANNOTATION(no_thread_safety_analysis)
