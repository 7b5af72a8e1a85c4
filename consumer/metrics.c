#include "metrics.h"

#include <string.h>

static const double latency_bounds[METRICS_LATENCY_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                               0.5,   1,    2.5,   5,    10,  30};

void metrics_init(struct intake_metrics *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
}

void metrics_destroy(struct intake_metrics *m)
{
    pthread_mutex_destroy(&m->lock);
}

void metrics_observe_batch(struct intake_metrics *m, double seconds)
{
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < METRICS_LATENCY_BUCKETS && seconds > latency_bounds[i])
        i++;
    m->latency_counts[i]++;
    m->latency_sum += seconds;
    m->latency_count++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_partition_update(struct intake_metrics *m, int32_t partition, int64_t committed,
                              int64_t high)
{
    pthread_mutex_lock(&m->lock);
    struct metrics_partition *p = NULL;
    for (size_t i = 0; i < m->n_parts && !p; i++)
        if (m->parts[i].partition == partition)
            p = &m->parts[i];
    if (!p && m->n_parts < METRICS_MAX_PARTITIONS) {
        p = &m->parts[m->n_parts++];
        *p = (struct metrics_partition){partition, -1, -1};
    }
    if (p && committed >= 0)
        p->committed = committed;
    if (p && high >= 0)
        p->high = high;
    pthread_mutex_unlock(&m->lock);
}

void metrics_partitions_clear(struct intake_metrics *m)
{
    pthread_mutex_lock(&m->lock);
    m->n_parts = 0;
    pthread_mutex_unlock(&m->lock);
}

static void counter(struct buf *out, const char *name, const char *help, uint64_t v)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
               (unsigned long long)v);
}

static void render_latency(struct intake_metrics *m, struct buf *out)
{
    const char *name = "regressd_batch_latency_seconds";
    buf_printf(out, "# HELP %s Time from a batch's first message to its commit.\n", name);
    buf_printf(out, "# TYPE %s histogram\n", name);
    uint64_t cum = 0;
    for (size_t i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cum += m->latency_counts[i];
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, latency_bounds[i],
                   (unsigned long long)cum);
    }
    cum += m->latency_counts[METRICS_LATENCY_BUCKETS];
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
               (unsigned long long)cum, name, m->latency_sum, name,
               (unsigned long long)m->latency_count);
}

static void render_lag(struct intake_metrics *m, struct buf *out)
{
    buf_printf(out, "# HELP regressd_consumer_lag Messages in Kafka not yet stored, per "
                    "partition.\n# TYPE regressd_consumer_lag gauge\n");
    for (size_t i = 0; i < m->n_parts; i++) {
        const struct metrics_partition *p = &m->parts[i];
        if (p->high < 0)
            continue;
        int64_t lag = p->committed < 0 ? p->high : p->high - p->committed;
        buf_printf(out, "regressd_consumer_lag{partition=\"%d\"} %lld\n", (int)p->partition,
                   (long long)(lag > 0 ? lag : 0));
    }
}

void metrics_render(struct intake_metrics *m, struct buf *out)
{
    counter(out, "regressd_messages_consumed_total", "Kafka messages consumed.",
            atomic_load(&m->messages));
    counter(out, "regressd_samples_stored_total", "Samples committed to PostgreSQL.",
            atomic_load(&m->samples_stored));
    counter(out, "regressd_dead_letters_total", "Messages or samples stored as dead letters.",
            atomic_load(&m->dead_letters));
    counter(out, "regressd_batches_total", "Batches committed to PostgreSQL.",
            atomic_load(&m->batches));
    counter(out, "regressd_batch_failures_total", "Failed attempts to store a batch.",
            atomic_load(&m->batch_failures));
    counter(out, "regressd_offset_conflicts_total",
            "Batches refused because another consumer stored those offsets first.",
            atomic_load(&m->conflicts));
    counter(out, "regressd_rebalances_total", "Consumer-group partition assignments.",
            atomic_load(&m->rebalances));
    buf_printf(out,
               "# HELP regressd_postgres_up Whether the last PostgreSQL operation "
               "succeeded.\n# TYPE regressd_postgres_up gauge\nregressd_postgres_up %d\n",
               atomic_load(&m->db_ok) ? 1 : 0);
    pthread_mutex_lock(&m->lock);
    render_latency(m, out);
    render_lag(m, out);
    pthread_mutex_unlock(&m->lock);
}
