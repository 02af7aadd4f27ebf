/* A power-cut model for the journal's tests, loaded with LD_PRELOAD into a child process.
 *
 * The "disk" holds a file as it was at its last successful fsync/fdatasync, nothing written
 * after: on every sync of a file whose path starts with $M5C_SYNC_WATCH, the file is copied to
 * PATH.synced (written aside, then renamed, so the image is never half-copied). After the child
 * is killed, PATH.synced is what a power cut at that instant leaves; the test opens those images
 * and checks that everything acknowledged is there. Each sync is also counted in
 * $M5C_SYNC_WATCH.syncs (one line per sync: the file synced).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void snapshot(int fd) {
    const char *watch = getenv("M5C_SYNC_WATCH");
    char link[64], path[4096], tmp[4200], dst[4200], buf[65536];
    ssize_t n;
    if (watch == NULL) return;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    if (strncmp(path, watch, strlen(watch)) != 0) return;
    snprintf(dst, sizeof dst, "%s.synced", path);
    snprintf(tmp, sizeof tmp, "%s.synced.tmp", path);
    int in = open(path, O_RDONLY);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in >= 0 && out >= 0) {
        while ((n = read(in, buf, sizeof buf)) > 0) {
            if (write(out, buf, (size_t)n) != n) break;
        }
    }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
    rename(tmp, dst);
    snprintf(tmp, sizeof tmp, "%s.syncs", watch);
    FILE *log = fopen(tmp, "a");
    if (log != NULL) {
        fprintf(log, "%s\n", path);
        fclose(log);
    }
}

int fsync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int result = real(fd);
    if (result == 0) snapshot(fd);
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int result = real(fd);
    if (result == 0) snapshot(fd);
    return result;
}
