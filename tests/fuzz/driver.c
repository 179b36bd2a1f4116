/* Standalone fuzz driver: replays every file of a corpus directory through
 * LLVMFuzzerTestOneInput, then a bounded number of deterministic mutations of them
 * (byte flips, truncations, insertions, splices). No timing, fixed seed: the same
 * inputs on every run. A crash or a sanitizer report fails the test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILES 512
#define MAX_SIZE  (1 << 20)
#define MUTATIONS 20000

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int main(int argc, char **argv)
{
    static uint8_t *files[MAX_FILES];
    static size_t sizes[MAX_FILES];
    size_t n = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 2;
    }
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_FILES) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(MAX_SIZE);
        size_t len = fread(buf, 1, MAX_SIZE, f);
        fclose(f);
        files[n] = buf;
        sizes[n++] = len;
        LLVMFuzzerTestOneInput(buf, len);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "no corpus files in %s\n", argv[1]);
        return 2;
    }
    uint8_t *m = malloc(MAX_SIZE * 2);
    for (int i = 0; i < MUTATIONS; i++) {
        size_t k = next() % n, len = sizes[k];
        memcpy(m, files[k], len);
        int kind = (int)(next() % 4);
        if (kind == 0 && len) { /* flip bytes */
            for (int j = 0; j < 1 + (int)(next() % 4); j++)
                m[next() % len] = (uint8_t)next();
        } else if (kind == 1 && len) { /* truncate */
            len = next() % len;
        } else if (kind == 2 && len < MAX_SIZE) { /* insert a byte */
            size_t at = len ? next() % len : 0;
            memmove(m + at + 1, m + at, len - at);
            m[at] = (uint8_t) "\r\n:; \t0a{}~\"'\\\x00\xff"[next() % 17];
            len++;
        } else { /* splice another file's tail */
            size_t o = next() % n, at = len ? next() % len : 0;
            size_t from = sizes[o] ? next() % sizes[o] : 0, take = sizes[o] - from;
            if (at + take > MAX_SIZE)
                take = MAX_SIZE - at;
            memcpy(m + at, files[o] + from, take);
            len = at + take;
        }
        LLVMFuzzerTestOneInput(m, len);
    }
    free(m);
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    printf("fuzz driver: %zu corpus files, %d mutations, no crash\n", n, MUTATIONS);
    return 0;
}
