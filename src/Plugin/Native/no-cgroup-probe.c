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
// The runtime's calls of these two libc functions are bound to the wrappers below (the link's
// --wrap, Fathom.Plugin.csproj). For exactly the probe's paths they answer "not there", which the
// runtime reads as "no cgroup": it then sizes from the machine (sched_getaffinity, sysinfo). Every
// other call goes on to libc's own function (__real_*). Nothing in Fathom's own code opens these paths.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/vfs.h>

int __real_statfs64(const char *path, struct statfs64 *buf);
FILE *__real_fopen64(const char *path, const char *mode);

static int is_probe(const char *path)
{
    return strcmp(path, "/sys/fs/cgroup") == 0
        || strcmp(path, "/proc/self/mountinfo") == 0
        || strcmp(path, "/proc/self/cgroup") == 0;
}

int __wrap_statfs64(const char *path, struct statfs64 *buf)
{
    if (is_probe(path)) {
        errno = ENOENT;
        return -1;
    }
    return __real_statfs64(path, buf);
}

FILE *__wrap_fopen64(const char *path, const char *mode)
{
    if (is_probe(path)) {
        errno = ENOENT;
        return NULL;
    }
    return __real_fopen64(path, mode);
}
