/* The HTTP API served by `regressd run` (libmicrohttpd, its own thread). Prefix http_. */
#ifndef REGRESSD_HTTP_H
#define REGRESSD_HTTP_H

#include <stddef.h>

#include "regressd/consumer.h"

struct http_server;

/* Listens on "host:port" (IPv4 or [IPv6]). The consumer may be NULL (health then fails).
 * Returns NULL with the reason on error. */
struct http_server *http_start(const char *listen, const char *token, struct consumer *consumer,
                               char *err, size_t errlen);
void http_stop(struct http_server *s);

/* Splits "host:port" / "[v6]:port"; 0 on success. */
int http_parse_listen(const char *listen, char *host, size_t hostlen, unsigned *port);

#endif
