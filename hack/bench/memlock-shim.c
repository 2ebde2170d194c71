// LD_PRELOAD shim for crun on a host whose root lacks CAP_SYS_RESOURCE.
//
// crun 1.8.1 raises RLIMIT_MEMLOCK to infinity before it starts a container and gives up when
// that fails with EPERM (raising a hard limit needs CAP_SYS_RESOURCE, setrlimit(2)). This shim
// turns exactly that failure into success, leaving the limit as it was; every other call and
// every other error is passed through. hack/bench/run builds it into .cache/bench/ and preloads
// it for crun only.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/types.h>

static int memlock_eperm(__rlimit_resource_t resource, int rc)
{
	return rc != 0 && errno == EPERM && resource == RLIMIT_MEMLOCK;
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *rlim)
{
	int (*real)(__rlimit_resource_t, const struct rlimit *) = dlsym(RTLD_NEXT, "setrlimit");
	int rc = real(resource, rlim);
	return memlock_eperm(resource, rc) ? 0 : rc;
}

int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rlim)
{
	int (*real)(__rlimit_resource_t, const struct rlimit64 *) = dlsym(RTLD_NEXT, "setrlimit64");
	int rc = real(resource, rlim);
	return memlock_eperm(resource, rc) ? 0 : rc;
}

int prlimit(pid_t pid, __rlimit_resource_t resource, const struct rlimit *new_limit, struct rlimit *old_limit)
{
	int (*real)(pid_t, __rlimit_resource_t, const struct rlimit *, struct rlimit *) = dlsym(RTLD_NEXT, "prlimit");
	int rc = real(pid, resource, new_limit, old_limit);
	return memlock_eperm(resource, rc) ? 0 : rc;
}

int prlimit64(pid_t pid, __rlimit_resource_t resource, const struct rlimit64 *new_limit, struct rlimit64 *old_limit)
{
	int (*real)(pid_t, __rlimit_resource_t, const struct rlimit64 *, struct rlimit64 *) = dlsym(RTLD_NEXT, "prlimit64");
	int rc = real(pid, resource, new_limit, old_limit);
	return memlock_eperm(resource, rc) ? 0 : rc;
}
