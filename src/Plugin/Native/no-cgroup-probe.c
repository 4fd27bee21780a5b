// The plugin's start without the .NET runtime's container probe (linked into `fathom` by
// Fathom.Plugin.csproj; docs/benchmarks.md, "The runtime's cgroup probe").
//
// At start the Native AOT runtime looks for the process's cgroup limits, to size the GC heap and
// the processor count: statfs("/sys/fs/cgroup"), then /proc/self/mountinfo and /proc/self/cgroup,
// twice, then the memory and CPU controllers' files. A CNI plugin lives for milliseconds on one
// thread with a heap of a few hundred KiB: no limit the probe could find changes what it does. And
// mountinfo grows with the node — a line for every pod's netns and every volume on a Kubernetes
// node — so the probe costs more the busier the node: on the lab machine it was a third of
// `fathom VERSION`'s CPU (perf stat, 1.75 -> 1.14 ms).
//
// The executable's own definitions of these two libc functions take the place of libc's for every
// caller in it (the static linker binds the runtime's calls to a symbol the executable defines).
// For exactly the probe's paths they answer "not there", which the runtime reads as "no cgroup":
// it then sizes from the machine (sched_getaffinity, /proc/meminfo). Every other call goes on to
// libc: statfs through its system call, fopen64 to libc's own (the next definition, RTLD_NEXT).
// Nothing in Fathom's own code opens these paths.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

static int is_probe(const char *path)
{
    return strcmp(path, "/sys/fs/cgroup") == 0
        || strcmp(path, "/proc/self/mountinfo") == 0
        || strcmp(path, "/proc/self/cgroup") == 0;
}

int statfs64(const char *path, struct statfs64 *buf)
{
    if (is_probe(path)) {
        errno = ENOENT;
        return -1;
    }
    return (int)syscall(SYS_statfs, path, buf);
}

FILE *fopen64(const char *path, const char *mode)
{
    static FILE *(*libc_fopen64)(const char *, const char *);
    if (is_probe(path)) {
        errno = ENOENT;
        return NULL;
    }
    if (libc_fopen64 == NULL)
        libc_fopen64 = (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen64");
    if (libc_fopen64 == NULL) {
        errno = ENOSYS;
        return NULL;
    }
    return libc_fopen64(path, mode);
}
