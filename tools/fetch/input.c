/*
 * URLs in: from the command line and from files (or stdin), one per line.
 *
 *   # a comment
 *   https://example.com/a.iso
 *   https://example.com/b?id=7<TAB>b.html      the file is b.html
 *   https://example.com/c.tar
 *     out=c-2024.tar                           aria2c's option lines, under
 *     checksum=sha-256=9f86d0...               their URL, indented
 *
 * Output names are made unique within the run as the URLs come, so a name
 * does not depend on which transfer finishes first: the second "a.html"
 * is "a.html.1", with -c in every run alike.  A name taken on disk by a
 * file from outside the run moves on to the next free ".N" when the file
 * is made (files.c); each base name keeps a counter, so thousands of
 * collisions cost one try each, not one per earlier name.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

job_t *jobs;
size_t njobs;
static size_t cap_jobs;

/* ------------------------------------------------------------ names */

/* A name reserved in the run, or a base name with its ".N" counter. */
struct name {
    char *key;
    unsigned next; /* the next N to try for "key.N" */
    bool reserved; /* a job writes (or will write) to this name */
};

static name_t **table;
static size_t table_cap, table_len;

uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void table_grow(void)
{
    size_t cap = table_cap ? table_cap * 2 : 1024;
    name_t **t = xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < table_cap; i++) {
        if (!table[i])
            continue;
        size_t k = name_hash(table[i]->key) & (cap - 1);
        while (t[k])
            k = (k + 1) & (cap - 1);
        t[k] = table[i];
    }
    free(table);
    table = t;
    table_cap = cap;
}

/* The entry for key, made (not reserved) when missing. */
static name_t *table_get(const char *key)
{
    if (2 * (table_len + 1) > table_cap)
        table_grow();
    size_t k = name_hash(key) & (table_cap - 1);
    for (; table[k]; k = (k + 1) & (table_cap - 1))
        if (!strcmp(table[k]->key, key))
            return table[k];
    name_t *n = xcalloc(1, sizeof *n);
    n->key = xstrdup(key);
    n->next = 1;
    table[k] = n;
    table_len++;
    return n;
}

/* Reserves the first free "BASE.N" from the base's counter on. */
static char *next_free(name_t *base)
{
    char cand[NAME_MAX_LEN + 16];
    for (;;) {
        snprintf(cand, sizeof cand, "%s.%u", base->key, base->next++);
        name_t *n = table_get(cand);
        if (!n->reserved) {
            n->reserved = true;
            return n->key;
        }
    }
}

/* Reserves the base itself when it is free, else the next free ".N". */
static char *reserve(name_t *base)
{
    if (base->reserved)
        return next_free(base);
    base->reserved = true;
    return base->key;
}

char *input_next_name(name_t *base)
{
    run_lock();
    char *name = next_free(base);
    run_unlock();
    return name;
}

char *input_error_name(const job_t *j, name_t **base)
{
    char key[NAME_MAX_LEN + 32];
    snprintf(key, sizeof key, "%s.error", j->name);
    run_lock();
    *base = table_get(key);
    char *name = reserve(*base);
    run_unlock();
    return name;
}

static bool keep_url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

void input_safe_name(const char *in, size_t len, bool from_url, char *out)
{
    /* Whole UTF-8 characters are kept (a name cut short does not end
     * inside one); a control (C0, DEL, C1: U+0080-U+009F) or a byte that
     * is not UTF-8 becomes '_', so that listing the directory is safe. */
    size_t n = 0;
    for (size_t i = 0; i < len && n < NAME_MAX_LEN;) {
        unsigned char c = (unsigned char)in[i];
        size_t k = from_url ? 1 : utf8_len(in + i);
        bool ok = from_url ? keep_url_char((char)c)
                           : k == 1 ? c >= 0x20 && c != 0x7f && c != '/'
                                    : k > 1 && !(c == 0xC2 && (unsigned char)in[i + 1] < 0xA0);
        if (!ok || i + k > len) {
            out[n++] = '_';
            i += k ? k : 1;
            continue;
        }
        if (n + k > NAME_MAX_LEN)
            break;
        memcpy(out + n, in + i, k);
        n += k;
        i += k;
    }
    out[n] = '\0';
    if (n == 0)
        strcpy(out, "index.html");
    else if (out[0] == '.') /* never ".", "..", or hidden */
        out[0] = '_';
}

void input_name_from_url(const char *url, char *out)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "?#");
    const char *slash = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '/')
            slash = q;
    const char *seg = slash ? slash + 1 : end; /* no path: the host's index */
    input_safe_name(seg, (size_t)(end - seg), true, out);
}

void input_assign_names(void)
{
    if (!cfg.outdir)
        return;
    char base[NAME_MAX_LEN + 1];
    for (size_t i = 0; i < njobs; i++) {
        job_t *j = &jobs[i];
        if (j->name) {
            input_safe_name(j->name, strlen(j->name), false, base);
            free(j->name);
        } else {
            input_name_from_url(j->url, base);
        }
        j->base = table_get(base);
        j->name = reserve(j->base);
    }
}

/* ------------------------------------------------------------ URLs */

void input_add(const char *url, const char *name, const char *checksum, const char *where)
{
    if (njobs == cap_jobs) {
        cap_jobs = cap_jobs ? cap_jobs * 2 : 64;
        jobs = realloc(jobs, cap_jobs * sizeof *jobs);
        if (!jobs)
            fatal("out of memory");
    }
    job_t *j = &jobs[njobs++];
    *j = (job_t){.url = xstrdup(url), .size = -1};
    if (name)
        j->name = xstrdup(name);
    if (checksum) {
        char why[160];
        if (!(j->digest = digest_parse(checksum, why, sizeof why)))
            usage_error("%s: checksum of %s: %s", where, url, why);
    }
}

/* An option line of aria2c's input files: "name=value" with a name of
 * lower-case letters, digits and dashes (a URL has a ':' first). */
static bool option_line(const char *s)
{
    const char *p = s;
    while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')
        p++;
    return p > s && *p == '=';
}

/* An option line under the last URL read from this file. */
static void url_option(const char *path, long line, size_t first, const char *opt)
{
    char where[512];
    snprintf(where, sizeof where, "%s:%ld", path, line);
    if (njobs == first)
        usage_error("%s: '%s' comes before any URL (an option line applies to the URL above it)",
                    where, opt);
    job_t *j = &jobs[njobs - 1];
    const char *val = strchr(opt, '=') + 1;
    if (!strncmp(opt, "out=", 4)) {
        if (!*val)
            usage_error("%s: out= wants a file name", where);
        free(j->name);
        j->name = xstrdup(val);
    } else if (!strncmp(opt, "checksum=", 9)) {
        char why[160];
        free(j->digest);
        if (!(j->digest = digest_parse(val, why, sizeof why)))
            usage_error("%s: checksum of %s: %s", where, j->url, why);
    } else if (!cfg.quiet) {
        say_line(PROG ": %s: option '%.*s' ignored (only out= and checksum= are read)",
                where, (int)(strchr(opt, '=') - opt), opt);
    }
}

void input_read_file(const char *path)
{
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f)
        fatal("cannot read URLs from %s: %s", path, strerror(errno));
    const char *shown = is_stdin ? "stdin" : path;
    size_t first = njobs;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *s = line, *e = line + len;
        bool indented = s < e && (*s == ' ' || *s == '\t');
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (!*s || *s == '#')
            continue;
        if (indented && option_line(s)) {
            url_option(shown, lineno, first, s);
            continue;
        }
        /* "URL<TAB>NAME": the name is what follows the first tab. */
        char *name = strchr(s, '\t');
        if (name) {
            char *u = name;
            while (u > s && (u[-1] == ' ' || u[-1] == '\t'))
                u--;
            *u = '\0';
            name++;
            while (*name == ' ' || *name == '\t')
                name++;
        }
        char where[512];
        snprintf(where, sizeof where, "%s:%ld", shown, lineno);
        input_add(s, name && *name ? name : NULL, NULL, where);
    }
    bool bad = ferror(f);
    int err = errno;
    free(line);
    if (!is_stdin)
        fclose(f);
    if (bad)
        fatal("cannot read URLs from %s: %s", shown, strerror(err));
}
