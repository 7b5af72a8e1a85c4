/* The HTTP client of the delivery workers: libcurl, one easy handle per worker, connect and
 * total timeouts, no signals, no redirects, http(s) only. Errors never contain the URL (it
 * holds the receiver's secret): curl's generic messages and the HTTP status with the start of
 * the answer. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_int.h"

#define RESPONSE_KEEP 4096 /* bytes of an answer kept for the error message */

struct alert_http {
    CURL *curl;
    long connect_timeout_ms, timeout_ms;
    volatile sig_atomic_t *stop;
    atomic_bool *quit;
    struct buf response;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct alert_http *h = arg;
    size_t n = size * nmemb;
    if (h->response.len < RESPONSE_KEEP)
        buf_append(&h->response, data,
                   n < RESPONSE_KEEP - h->response.len ? n : RESPONSE_KEEP - h->response.len);
    return n;
}

/* Aborts the transfer once the loop stops. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    struct alert_http *h = arg;
    return (h->stop && *h->stop) || (h->quit && atomic_load(h->quit));
}

struct alert_http *alert_http_new(int64_t connect_timeout_us, int64_t timeout_us,
                                  volatile sig_atomic_t *stop, atomic_bool *quit)
{
    struct alert_http *h = xcalloc(1, sizeof(*h));
    h->curl = curl_easy_init();
    if (!h->curl) {
        fprintf(stderr, "regressd: cannot create a libcurl handle\n");
        abort(); /* only allocation fails here */
    }
    h->connect_timeout_ms = (long)(connect_timeout_us / 1000);
    h->timeout_ms = (long)(timeout_us / 1000);
    h->stop = stop;
    h->quit = quit;
    return h;
}

void alert_http_free(struct alert_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    buf_free(&h->response);
    free(h);
}

static void set_options(struct alert_http *h, const char *url, struct curl_slist *headers,
                        const char *body)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "regressd/" REGRESSD_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
}

/* "HTTP 500: <first printable bytes of the answer>". */
static void status_error(struct alert_http *h, long status, char *out, size_t outlen)
{
    char snippet[161];
    size_t n = 0;
    for (size_t i = 0; i < h->response.len && n + 1 < sizeof(snippet); i++) {
        unsigned char c = (unsigned char)h->response.data[i];
        snippet[n++] = (c >= 0x20 && c < 0x7F) ? (char)c : ' ';
    }
    snippet[n] = '\0';
    snprintf(out, outlen, n ? "HTTP %ld: %s" : "HTTP %ld", status, snippet);
}

int alert_http_post(struct alert_http *h, const char *url, const char *idempotency_key,
                    const char *body, struct alert_http_result *res)
{
    memset(res, 0, sizeof(*res));
    buf_reset(&h->response);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    if (idempotency_key) {
        char line[256];
        snprintf(line, sizeof(line), "Idempotency-Key: %s", idempotency_key);
        headers = curl_slist_append(headers, line);
    }
    set_options(h, url, headers, body);
    int64_t t0 = util_mono_us();
    CURLcode rc = curl_easy_perform(h->curl);
    res->duration_ms = (double)(util_mono_us() - t0) / 1000.0;
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(res->error, sizeof(res->error), "%s",
                 rc == CURLE_ABORTED_BY_CALLBACK ? "stopped" : curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0)
        res->retry_after_us = (int64_t)retry_after * 1000000;
    if (res->status >= 200 && res->status < 300)
        return 0;
    status_error(h, res->status, res->error, sizeof(res->error));
    return -1;
}
