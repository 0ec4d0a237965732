/* podvisor's entry: picks the subcommand, parses options, runs, exits.
 * The only place that decides the process's exit code. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buildinfo.h"
#include "log.h"
#include "options.h"
#include "supervisor.h"
#include "tools.h"
#include "waitfor.h"

extern char **environ;

/* podvisor's own fds must never land on 0, 1 or 2: if it was started with
 * one of them closed, the next open() would take it and the child would get
 * an epoll fd as its stdin. */
static int ensure_std_fds(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int null = open("/dev/null", O_RDWR);
        if (null < 0)
            return -1;
        if (null != fd) {
            close(null);
            return -1;
        }
    }
    return 0;
}

static int print_help(FILE *to)
{
    char buf[8192];
    options_help(buf, sizeof buf);
    fputs(buf, to);
    return 0;
}

static int print_version(void)
{
    return buildinfo_print(stdout);
}

int main(int argc, char **argv)
{
    pid_t parent = getppid(); /* first: see supervisor_run */
    if (ensure_std_fds() < 0)
        return 1;
    if (argc >= 2) {
        const char *cmd = argv[1];
        if (strcmp(cmd, "help") == 0)
            return print_help(stdout);
        if (strcmp(cmd, "version") == 0)
            return print_version();
        /* Subcommands are recognised only as the very first argument, so
         * `podvisor -- sleep 5` still runs the sleep binary. */
        if (strcmp(cmd, "probe") == 0)
            return tools_probe_main(argc - 1, argv + 1);
        if (strcmp(cmd, "wait-for") == 0)
            return waitfor_main(argc - 1, argv + 1);
        if (strcmp(cmd, "sleep") == 0)
            return tools_sleep_main(argc - 1, argv + 1);
        if (strcmp(cmd, "hash") == 0)
            return tools_hash_main(argc - 1, argv + 1);
        if (strcmp(cmd, "install") == 0)
            return tools_install_main(argc - 1, argv + 1);
    }

    struct podvisor_config cfg;
    char err[512];
    switch (options_parse(&cfg, argc, argv, environ, err, sizeof err)) {
    case OPTIONS_HELP:
        options_free(&cfg);
        return print_help(stdout);
    case OPTIONS_VERSION:
        options_free(&cfg);
        return print_version();
    case OPTIONS_ERROR:
        options_free(&cfg);
        if (cfg.log_format == LOG_JSON) {
            log_setup(LOG_ERROR, LOG_JSON);
            log_error("%s", err);
        } else {
            fprintf(stderr, "podvisor: %s\n", err);
        }
        return 2;
    case OPTIONS_RUN:
        break;
    }
    log_setup(cfg.log_level, cfg.log_format);
    for (int i = 0; i < cfg.nwarnings; i++)
        log_warn("%s", cfg.warnings[i]);
    if (cfg.warnings_dropped)
        log_warn("%d more warnings about the configuration not shown", cfg.warnings_dropped);
    int code = supervisor_run(&cfg, parent);
    options_free(&cfg);
    exit(code);
}
