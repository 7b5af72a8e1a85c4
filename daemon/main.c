/* regressd [-c FILE] [-o KEY=VALUE]... COMMAND [OPTIONS] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "regressd/log.h"
#include "regressd/traffic.h"

struct command {
    const char *name;
    int (*fn)(struct config *cfg, int argc, char **argv);
    const char *summary;
};

static int cmd_version(struct config *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    printf("regressd %s\n", REGRESSD_VERSION);
    return EXIT_OK;
}

static int cmd_generate_adapter(struct config *cfg, int argc, char **argv)
{
    (void)cfg;
    return cmd_generate(argc, argv);
}

static const struct command commands[] = {
    {"run", cmd_run, "consume samples into PostgreSQL and serve HTTP until SIGTERM"},
    {"migrate", cmd_migrate, "create or upgrade the PostgreSQL schema"},
    {"deploy", cmd_deploy, "record a deploy (the deploy hook); prints its id"},
    {"check", cmd_check, "compare a commit against its baseline; exit 1 on a regression"},
    {"trend", cmd_trend, "compare a window with the same window earlier; exit 1 on a regression"},
    {"flags", cmd_flags, "compare requests with each flag value against those without it"},
    {"generate", cmd_generate_adapter, "write synthetic samples to Kafka or stdout"},
    {"demo", cmd_demo, "the whole pipeline on this machine, with a planted regression"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: regressd [-c FILE] [-o KEY=VALUE]... COMMAND [OPTIONS]\n\n"
               "Catches CPU-efficiency regressions from per-request samples on Kafka.\n\n"
               "Options:\n"
               "  -c FILE          configuration file (key = value lines)\n"
               "  -o KEY=VALUE     set a configuration key; overrides file and environment\n"
               "  --print-config   print the effective configuration and exit\n"
               "  -h, --help       this help; `regressd COMMAND --help` for a command\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nExit status: 0 ok / no regression, 1 regression found, 2 usage, configuration "
               "or connection error, 3 inconclusive.\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'}, {"print-config", no_argument, NULL, 'P'}, {0}};
    const char *config_path = NULL;
    char **overrides = calloc((size_t)argc + 1, sizeof(char *));
    size_t n_overrides = 0;
    bool print_config = false;
    int ch, rc = EXIT_USAGE;
    while ((ch = getopt_long(argc, argv, "+c:o:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            overrides[n_overrides++] = optarg;
            break;
        case 'h':
            usage(stdout);
            free(overrides);
            return EXIT_OK;
        case 'P':
            print_config = true;
            break;
        default:
            usage(stderr);
            free(overrides);
            return EXIT_USAGE;
        }
    }
    struct config cfg;
    char err[1024];
    if (config_load(&cfg, config_path, overrides, n_overrides, err, sizeof(err)) < 0) {
        fprintf(stderr, "regressd: configuration error: %s\n", err);
        goto done;
    }
    log_level_current = cfg.log_level;
    if (print_config) {
        struct buf out = {0};
        config_dump(&cfg, &out);
        fputs(buf_cstr(&out), stdout);
        buf_free(&out);
        rc = EXIT_OK;
        goto done;
    }
    if (optind >= argc) {
        usage(stderr);
        goto done;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            rc = commands[i].fn(&cfg, argc - optind, argv + optind);
            goto done;
        }
    }
    fprintf(stderr, "regressd: unknown command \"%s\" (see regressd --help)\n", name);
done:
    config_free(&cfg);
    free(overrides);
    return rc;
}
