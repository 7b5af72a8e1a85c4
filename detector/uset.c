/* See uset.h. */
#include "uset.h"

#include <stdlib.h>
#include <string.h>

#include "regressd/util.h"

void uset_init(struct uset *s)
{
    memset(s, 0, sizeof(*s));
}

void uset_free(struct uset *s)
{
    free(s->v);
    memset(s, 0, sizeof(*s));
}

void uset_add(struct uset *s, uint32_t h)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = h;
}

/* One stable counting pass on the 16 bits at `shift`, from src into dst. */
static void radix_pass(const uint32_t *src, uint32_t *dst, size_t n, unsigned shift)
{
    size_t *count = xcalloc(65537, sizeof(*count));
    for (size_t i = 0; i < n; i++)
        count[((src[i] >> shift) & 0xffff) + 1]++;
    for (size_t d = 0; d < 65536; d++)
        count[d + 1] += count[d];
    for (size_t i = 0; i < n; i++)
        dst[count[(src[i] >> shift) & 0xffff]++] = src[i];
    free(count);
}

size_t uset_distinct(struct uset *s, double *per_bucket, int buckets)
{
    if (s->n == 0)
        return 0;
    uint32_t *tmp = xmalloc(s->n * sizeof(*tmp));
    radix_pass(s->v, tmp, s->n, 0);
    radix_pass(tmp, s->v, s->n, 16);
    free(tmp);
    size_t distinct = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0 && s->v[i] == s->v[i - 1])
            continue;
        distinct++;
        if (per_bucket)
            per_bucket[(s->v[i] & 63u) % (uint32_t)buckets] += 1.0;
    }
    return distinct;
}
