/* PostgreSQL plumbing shared by every module: connecting, the schema migrations, and small
 * helpers around libpq results. Prefix db_. */
#ifndef REGRESSD_DB_H
#define REGRESSD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "regressd/util.h"

struct db_migration {
    int version;
    const char *name;
    const char *sql;
};

/* Generated from sql/NNN_*.sql at build time, ordered by version. */
extern const struct db_migration db_migrations[];
extern const size_t db_migrations_count;

/* Connects with application_name=regressd. NULL on failure with the reason (no password). */
PGconn *db_connect(const char *dsn, char *err, size_t errlen);

/* Applies the migrations not yet recorded in schema_migrations, each in its own transaction,
 * serialised across processes by an advisory lock. *applied (may be NULL) counts them. */
int db_migrate(PGconn *conn, int *applied, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Runs a statement without parameters or results. */
int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen) REGRESSD_MUST_CHECK;

/* Runs a parameterised statement; returns the result (caller PQclears) when its status is
 * PGRES_COMMAND_OK or PGRES_TUPLES_OK, else NULL with the reason. */
PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                   size_t errlen);

/* db_query with results in binary format (arrays of the rollup tables, read by detector/). */
PGresult *db_query_binary(PGconn *conn, const char *sql, int nparams, const char *const *params,
                          char *err, size_t errlen);

/* COPY ... FROM STDIN of len bytes of rows, sent in 1 MiB pieces so libpq's buffer stays small
 * and the server parses while the rest is sent. binary: the rows are binary COPY tuples (sql
 * names FORMAT binary) and the stream's header and trailer are added here. */
int db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len, bool binary, char *err,
               size_t errlen) REGRESSD_MUST_CHECK;

/* Writes "SQLSTATE: message" of a failed result (or the connection's error) into err. */
void db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen);

/* True when the failure means the connection is gone (server down, admin shutdown), so the
 * work should be retried on a new connection rather than reported. */
bool db_connection_lost(PGconn *conn, const PGresult *res);

/* Makes sure samples has the partition of that day (days since the epoch). */
int db_ensure_partition(PGconn *conn, int64_t day, char *err, size_t errlen) REGRESSD_MUST_CHECK;

#endif
