/*
 * The output directory.  It is opened once and every file is made
 * relative to it (openat), so no name, however hostile, reaches outside
 * it; files are made with O_EXCL and reopened with O_NOFOLLOW, so an
 * existing file or a symbolic link planted there is never written
 * through.  A file is made only once its response was found good (a 2xx
 * status): an error body or a redirect never lands under the URL's name.
 *
 * A partial body kept for -c carries the validators of its response
 * (ETag, Last-Modified) in extended attributes, so that the next run can
 * ask for the rest with If-Range: the server then sends the rest only if
 * the resource is still the one those bytes came from, else all of it.
 *
 * The URL is kept with the file too, and -c continues only a file saved
 * from the same URL: names follow the order of the input (data.bin,
 * data.bin.1), so a rerun of some of the URLs would otherwise continue, or
 * take as complete, another URL's file.  A file without that record (made
 * by another tool, or on a file system without user attributes) is left
 * alone: the URL's body goes to the next free name.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XATTR_ETAG "user.casyncio-fetch.etag"
#define XATTR_MODIFIED "user.casyncio-fetch.last-modified"
#define XATTR_URL "user.casyncio-fetch.url"

static int dirfd_ = -1;

void files_open_dir(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        fatal("cannot create directory %s: %s", dir, strerror(errno));
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd_ < 0)
        fatal("cannot open directory %s: %s", dir, strerror(errno));
    if (faccessat(dirfd_, ".", W_OK | X_OK, AT_EACCESS) != 0)
        fatal("cannot write to directory %s: %s", dir, strerror(errno));
}

const char *files_display(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(cfg.outdir);
    bool slash = n && cfg.outdir[n - 1] == '/';
    snprintf(buf, cap, "%s%s%s", cfg.outdir, slash ? "" : "/", path);
    return buf;
}

int files_create(job_t *j)
{
    for (int tries = 0; tries < 100000; tries++) {
        int fd =
            openat(dirfd_, j->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0) {
            j->path = j->name;
            return fd;
        }
        if (errno != EEXIST)
            return -1;
        j->name = input_next_name(j->base);
    }
    errno = EEXIST;
    return -1;
}

/* A hidden name next to the job's file for its replacement: a leading dot
 * no name of the run has (input.c), the process and a counter. */
static void temp_name(const job_t *j, char *tmp, size_t cap)
{
    static unsigned counter;
    snprintf(tmp, cap, ".%s.%ld-%u.part", j->path, (long)getpid(),
             __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
}

static int named_temp(const job_t *j, char *tmp, size_t cap)
{
    for (int tries = 0; tries < 100; tries++) {
        temp_name(j, tmp, cap);
        int fd = openat(dirfd_, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

int files_reopen(job_t *j)
{
    return openat(dirfd_, j->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
}

int64_t files_size(job_t *j)
{
    struct stat st;
    if (!j->path || fstatat(dirfd_, j->path, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return st.st_size;
}

/* An attribute's value as a new string, or NULL. */
static char *get_attr(int fd, const char *name)
{
    char buf[1024];
    ssize_t n = fgetxattr(fd, name, buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++) /* it goes into a header line */
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            return NULL;
    return xstrdup(buf);
}

/* Whether the file was saved from this URL. */
static bool saved_from(int fd, const char *url)
{
    size_t n = strlen(url);
    char *buf = xmalloc(n + 1);
    ssize_t got = fgetxattr(fd, XATTR_URL, buf, n + 1);
    bool same = got == (ssize_t)n && !memcmp(buf, url, n);
    free(buf);
    return same;
}

uint64_t files_adopt(job_t *j)
{
    int fd;
    struct stat st;
    /* The job's name, then the next free ones, until a file saved from
     * its URL or a free name (where the file will be made). */
    for (int tries = 0;; tries++) {
        fd = openat(dirfd_, j->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno != ELOOP)
            return 0;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && saved_from(fd, j->url))
            break;
        if (fd >= 0)
            close(fd);
        if (tries == 1000) /* files_create goes on from here */
            return 0;
        j->name = input_next_name(j->base);
    }
    j->path = j->name;
    j->partial = st.st_size > 0;
    free(j->etag);
    free(j->modified);
    j->etag = get_attr(fd, XATTR_ETAG);
    j->modified = get_attr(fd, XATTR_MODIFIED);
    close(fd);
    return (uint64_t)st.st_size;
}

/* Sets or (for NULL) removes an attribute; failures only cost the next
 * resume its If-Range. */
static void set_attr(int fd, const char *name, const char *value)
{
    if (value)
        fsetxattr(fd, name, value, strlen(value), 0);
    else
        fremovexattr(fd, name);
}

void files_save_url(int fd, const job_t *j)
{
    set_attr(fd, XATTR_URL, j->url);
}

void files_save_validators(int fd, const job_t *j)
{
    files_save_url(fd, j);
    set_attr(fd, XATTR_ETAG, j->etag);
    set_attr(fd, XATTR_MODIFIED, j->modified);
}

int files_remove(job_t *j)
{
    int rc = j->path ? unlinkat(dirfd_, j->path, 0) : 0;
    j->path = NULL;
    j->partial = false;
    return rc;
}

int files_write(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int files_create_error(job_t *j, const char **path)
{
    name_t *base;
    *path = input_error_name(j, &base);
    for (unsigned k = 0; k < 1000; k++) {
        int fd = openat(dirfd_, *path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
        *path = input_next_name(base);
    }
    errno = EEXIST;
    return -1;
}

int files_create_temp(const job_t *j, char *tmp, size_t cap)
{
    /* An unnamed file first: nothing is left behind if the process dies. */
    tmp[0] = '\0';
    int fd = openat(dirfd_, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    return named_temp(j, tmp, cap);
}

int files_replace(job_t *j, int fd, char *tmp, size_t cap)
{
    if (!tmp[0]) { /* the unnamed file gets a name of its own first */
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        for (int tries = 0;; tries++) {
            temp_name(j, tmp, cap);
            if (linkat(AT_FDCWD, proc, dirfd_, tmp, AT_SYMLINK_FOLLOW) == 0)
                break;
            if (errno != EEXIST || tries == 100) {
                int err = errno;
                close(fd);
                tmp[0] = '\0';
                errno = err;
                return -1;
            }
        }
    }
    /* A failed close may be the failed write of the last bytes. */
    if (close(fd) != 0 || renameat(dirfd_, tmp, dirfd_, j->path) != 0) {
        int err = errno;
        unlinkat(dirfd_, tmp, 0);
        tmp[0] = '\0';
        errno = err;
        return -1;
    }
    tmp[0] = '\0';
    return 0;
}

void files_unlink_path(const char *path)
{
    unlinkat(dirfd_, path, 0);
}

int files_open_read(const job_t *j)
{
    return openat(dirfd_, j->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}
