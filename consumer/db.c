/* Connection, migrations and libpq helpers. */
#include "regressd/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regressd/log.h"

/* Advisory lock key serialising migrations across daemons: "regressd" in ASCII. */
#define DB_MIGRATION_LOCK "7526402656486515556"

static void trim_newline(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

void db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = PQerrorMessage(conn);
    snprintf(err, errlen, "%s%s%s", state ? state : "", state ? ": " : "", msg ? msg : "");
    trim_newline(err);
}

int db_copy_in(PGconn *conn, const char *sql, const char *data, size_t len, bool binary, char *err,
               size_t errlen)
{
    /* The binary stream: signature, flags (int32 0), header extension length (int32 0) ...
     * and a field count of -1 at the end. */
    static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    static const char trailer[2] = "\377\377";
    PGresult *res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COPY_IN) {
        db_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    const size_t piece = 1 << 20;
    int ok = binary ? PQputCopyData(conn, header, (int)sizeof(header)) : 1;
    for (size_t off = 0; ok == 1 && off < len; off += piece)
        ok = PQputCopyData(conn, data + off, (int)(len - off < piece ? len - off : piece));
    if (ok == 1 && binary)
        ok = PQputCopyData(conn, trailer, (int)sizeof(trailer));
    if (ok == 1)
        ok = PQputCopyEnd(conn, NULL);
    int rc = 0;
    if (ok != 1) {
        db_error(conn, NULL, err, errlen);
        rc = -1;
    }
    while ((res = PQgetResult(conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            db_error(conn, res, err, errlen);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

bool db_connection_lost(PGconn *conn, const PGresult *res)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return true;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return res == NULL;
    /* Class 08: connection exception; 57P0x: shutdown, crash, cannot connect now. */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

PGconn *db_connect(const char *dsn, char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {dsn, "regressd", "10", NULL};
    /* expand_dbname=1: dsn may be a connection string or URI; empty means libpq defaults. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        trim_newline(err);
        PQfinish(conn);
        return NULL;
    }
    PGresult *res = PQexec(conn, "SET client_min_messages = warning; SET timezone = 'UTC'");
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        db_error(conn, res, err, errlen);
    PQclear(res);
    if (!ok) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc < 0)
        db_error(conn, res, err, errlen);
    PQclear(res);
    return rc;
}

static PGresult *query_format(PGconn *conn, const char *sql, int nparams, const char *const *params,
                              int result_format, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, result_format);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    db_error(conn, res, err, errlen);
    PQclear(res);
    return NULL;
}

PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                   size_t errlen)
{
    return query_format(conn, sql, nparams, params, 0, err, errlen);
}

PGresult *db_query_binary(PGconn *conn, const char *sql, int nparams, const char *const *params,
                          char *err, size_t errlen)
{
    return query_format(conn, sql, nparams, params, 1, err, errlen);
}

static int migration_applied(PGconn *conn, int version, bool *applied, char *err, size_t errlen)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", version);
    const char *params[] = {v};
    PGresult *res = db_query(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params,
                             err, errlen);
    if (!res)
        return -1;
    *applied = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

static int apply_migration(PGconn *conn, const struct db_migration *m, char *err, size_t errlen)
{
    char why[1024], v[16];
    snprintf(v, sizeof(v), "%d", m->version);
    const char *params[] = {v, m->name};
    if (db_exec(conn, "BEGIN", why, sizeof(why)) < 0)
        goto failed;
    if (db_exec(conn, m->sql, why, sizeof(why)) < 0)
        goto rollback;
    PGresult *res = db_query(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                             2, params, why, sizeof(why));
    if (!res)
        goto rollback;
    PQclear(res);
    if (db_exec(conn, "COMMIT", why, sizeof(why)) < 0)
        goto failed;
    log_info("applied migration %s", m->name);
    return 0;
rollback:
    PQclear(PQexec(conn, "ROLLBACK"));
failed:
    snprintf(err, errlen, "migration %s failed: %s", m->name, why);
    return -1;
}

int db_migrate(PGconn *conn, int *applied, char *err, size_t errlen)
{
    int count = 0, rc = -1;
    if (db_exec(conn, "SELECT pg_advisory_lock(" DB_MIGRATION_LOCK ")", err, errlen) < 0)
        return -1;
    if (db_exec(conn,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                err, errlen) < 0)
        goto done;
    for (size_t i = 0; i < db_migrations_count; i++) {
        bool done_already;
        if (migration_applied(conn, db_migrations[i].version, &done_already, err, errlen) < 0)
            goto done;
        if (done_already)
            continue;
        if (apply_migration(conn, &db_migrations[i], err, errlen) < 0)
            goto done;
        count++;
    }
    rc = 0;
done:
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" DB_MIGRATION_LOCK ")"));
    if (applied)
        *applied = count;
    return rc;
}

int db_ensure_partition(PGconn *conn, int64_t day, char *err, size_t errlen)
{
    int y;
    unsigned m, d;
    char date[32];
    util_civil_from_days(day, &y, &m, &d);
    snprintf(date, sizeof(date), "%04d-%02u-%02u", y, m, d);
    const char *params[] = {date};
    PGresult *res = db_query(conn, "SELECT regressd_ensure_samples_partition($1::date)", 1, params,
                             err, errlen);
    if (!res)
        return -1;
    if (PQgetvalue(res, 0, 0)[0] == 't')
        log_info("created samples partition for %s", date);
    PQclear(res);
    return 0;
}
