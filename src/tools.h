/* tools: subcommands for images that have no tools of their own (distroless):
 * `podvisor probe` for exec probes, `podvisor sleep` for preStop hooks and
 * `podvisor hash` for the content hash --watch acts on, `podvisor install`
 * to inject podvisor into another image through a shared volume.
 * Each takes its own argv (argv[0] is the subcommand) and returns the exit
 * code: 0 healthy / done, 1 not healthy, 2 usage. */
#ifndef PODVISOR_TOOLS_H
#define PODVISOR_TOOLS_H

int tools_probe_main(int argc, char **argv);

/** A subcommand's usage error, as one line on stderr whatever the input
 * held ("podvisor CMD: why (see podvisor CMD --help)"). Returns 2. */
int tools_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tools_sleep_main(int argc, char **argv);
int tools_hash_main(int argc, char **argv);
int tools_install_main(int argc, char **argv);

#endif
