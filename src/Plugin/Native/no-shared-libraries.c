// `fathom` is linked statically against glibc (Fathom.Plugin.csproj): no ld.so, no libc.so to map
// and bind at every start. A static executable must then never load a shared library: the library
// brings a libc.so of its own, whose thread-local storage lands on the executable's, and the .NET
// runtime's allocation context there is overwritten (docs/benchmarks.md, "Linked statically"; that is
// how a config with a 17-key object, which loaded OpenSSL, once crashed it). The runtime's native
// code can load libraries (a lazily bound P/Invoke, the OpenSSL and GSSAPI shims) and glibc loads its
// NSS modules for user, group and host lookups. The link binds every such call to the wrappers below
// (--wrap): a library is "not found", a name is "unknown". Fathom's own code makes none of these
// calls; a path of the runtime that did would now fail with an error instead of corrupting memory.
#define _GNU_SOURCE
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <stddef.h>
#include <sys/types.h>

void *__wrap_dlopen(const char *file, int mode)
{
    (void)file;
    (void)mode;
    return NULL;
}

int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
    (void)node;
    (void)service;
    (void)hints;
    *res = NULL;
    return EAI_FAIL;
}

int __wrap_getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t size, struct passwd **result)
{
    (void)name;
    (void)pwd;
    (void)buf;
    (void)size;
    *result = NULL; // not found
    return 0;
}

int __wrap_getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t size, struct passwd **result)
{
    (void)uid;
    (void)pwd;
    (void)buf;
    (void)size;
    *result = NULL;
    return 0;
}

int __wrap_getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t size, struct group **result)
{
    (void)gid;
    (void)grp;
    (void)buf;
    (void)size;
    *result = NULL;
    return 0;
}

// No supplementary groups: the user's primary group alone.
int __wrap_getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups)
{
    (void)user;
    if (*ngroups < 1) {
        *ngroups = 1;
        return -1;
    }
    groups[0] = group;
    *ngroups = 1;
    return 1;
}
