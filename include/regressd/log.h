/* One line per event to stderr, level checked before formatting. Never call from a signal
 * handler; never pass secrets (URLs with tokens, DSN passwords). */
#ifndef REGRESSD_LOG_H
#define REGRESSD_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern int log_level_current;

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "error", "warn", "info", "debug" -> level; -1 if unknown. */
int log_level_parse(const char *name);

#define log_at(level, ...)                                                                         \
    do {                                                                                           \
        if ((int)(level) <= log_level_current)                                                     \
            log_write((level), __VA_ARGS__);                                                       \
    } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
