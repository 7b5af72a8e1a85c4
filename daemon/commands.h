/* Command entry points. Each gets the loaded configuration and its own argv (argv[0] is the
 * command name) and returns the process exit status. */
#ifndef REGRESSD_DAEMON_COMMANDS_H
#define REGRESSD_DAEMON_COMMANDS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "regressd/config.h"

/* Exit statuses shared by all commands (CONTRACT section 2). */
#define EXIT_OK 0
#define EXIT_REGRESSION 1
#define EXIT_USAGE 2
#define EXIT_INCONCLUSIVE 3

int cmd_run(struct config *cfg, int argc, char **argv);
int cmd_migrate(struct config *cfg, int argc, char **argv);
int cmd_demo(struct config *cfg, int argc, char **argv);
int cmd_deploy(struct config *cfg, int argc, char **argv);
int cmd_check(struct config *cfg, int argc, char **argv);
int cmd_trend(struct config *cfg, int argc, char **argv);
int cmd_flags(struct config *cfg, int argc, char **argv);

struct detector_report;
/* A report on stdout: the `--json` object, or the human table. */
void cmd_print_report(const struct detector_report *r, bool json);

/* Set by SIGTERM/SIGINT once signals_install() ran. */
extern volatile sig_atomic_t stop_requested;
void signals_install(void);

/* Connects and migrates, retrying with backoff until success or a stop request (when wait is
 * true), or failing at once (when false). 0 on success. */
int migrate_database(const struct config *cfg, bool wait, char *err, size_t errlen);

#endif
