#include "batch.h"

#include <stdlib.h>

void batch_reset(struct batch *b)
{
    buf_reset(&b->samples);
    buf_reset(&b->dead);
    buf_reset(&b->new_endpoints);
    buf_reset(&b->new_commits);
    buf_reset(&b->rollups);
    buf_reset(&b->users);
    buf_reset(&b->flags);
    buf_reset(&b->flag_users);
    b->n_samples = b->n_dead = b->n_messages = b->n_new_endpoints = 0;
    b->n_new_commits = b->n_rollups = b->n_users = b->n_flags = b->n_flag_users = 0;
    b->n_parts = 0;
    b->n_days = 0;
    b->first_mono_us = 0;
}

void batch_free(struct batch *b)
{
    if (!b)
        return;
    buf_free(&b->samples);
    buf_free(&b->dead);
    buf_free(&b->new_endpoints);
    buf_free(&b->new_commits);
    buf_free(&b->rollups);
    buf_free(&b->users);
    buf_free(&b->flags);
    buf_free(&b->flag_users);
    free(b->parts);
    free(b->days);
    b->parts = NULL;
    b->days = NULL;
    b->n_parts = b->cap_parts = b->n_days = b->cap_days = 0;
}

struct batch_partition *batch_partition(struct batch *b, int32_t p, int64_t expected)
{
    for (size_t i = 0; i < b->n_parts; i++)
        if (b->parts[i].partition == p)
            return &b->parts[i];
    if (b->n_parts == b->cap_parts) {
        b->cap_parts = b->cap_parts ? b->cap_parts * 2 : 16;
        b->parts = xrealloc(b->parts, b->cap_parts * sizeof(*b->parts));
    }
    struct batch_partition *bp = &b->parts[b->n_parts++];
    bp->partition = p;
    bp->start = expected;
    bp->end = expected;
    return bp;
}

void batch_add_day(struct batch *b, int64_t day)
{
    for (size_t i = 0; i < b->n_days; i++)
        if (b->days[i] == day)
            return;
    if (b->n_days == b->cap_days) {
        b->cap_days = b->cap_days ? b->cap_days * 2 : 8;
        b->days = xrealloc(b->days, b->cap_days * sizeof(*b->days));
    }
    b->days[b->n_days++] = day;
}

void batch_absorb(struct batch *dst, const struct batch *src)
{
    buf_append(&dst->samples, src->samples.data, src->samples.len);
    buf_append(&dst->dead, src->dead.data, src->dead.len);
    buf_append(&dst->new_endpoints, src->new_endpoints.data, src->new_endpoints.len);
    buf_append(&dst->new_commits, src->new_commits.data, src->new_commits.len);
    dst->n_samples += src->n_samples;
    dst->n_dead += src->n_dead;
    dst->n_new_endpoints += src->n_new_endpoints;
    dst->n_new_commits += src->n_new_commits;
    for (size_t i = 0; i < src->n_days; i++)
        batch_add_day(dst, src->days[i]);
}
