/* Counting distinct 32-bit user hashes: collect them, then sort (LSD radix, two 16-bit passes)
 * and count runs. Sequential memory access only, which beats a hash set by far once the window
 * holds millions of user-minute entries. Private to detector/. */
#ifndef REGRESSD_DETECTOR_USET_H
#define REGRESSD_DETECTOR_USET_H

#include <stddef.h>
#include <stdint.h>

struct uset {
    uint32_t *v;
    size_t n, cap;
};

void uset_init(struct uset *s);
void uset_add(struct uset *s, uint32_t h);
/* Sorts the values and returns the number of distinct ones; when per_bucket is not NULL, adds
 * each distinct value's count to per_bucket[(h & 63) % buckets]. */
size_t uset_distinct(struct uset *s, double *per_bucket, int buckets);
void uset_free(struct uset *s);

#endif
