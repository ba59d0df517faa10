/*
 * loop.h — journeyd's single event loop.
 *
 * Each turn: claim what needs claiming, poll a batch, run it through the
 * pipeline, wait for its dead letters to be acknowledged, apply it to Redis
 * in one atomic script, store the offsets in Kafka, and run housekeeping on
 * a timer (GC, progress line). Signals only set the flags it reads.
 */
#ifndef JD_LOOP_H
#define JD_LOOP_H

#include "core/config.h"

#include <signal.h>
#include <stdbool.h>

struct loop_opts {
    bool exit_on_eof;              /**< stop once every partition is at its end */
    volatile sig_atomic_t *stop;   /**< set by SIGTERM/SIGINT */
    volatile sig_atomic_t *reload; /**< set by SIGHUP */
    const char *config_path;       /**< for messages; may be NULL */
};

/**
 * @brief Run until stopped.
 * @returns the process exit status (0 after a clean drain).
 */
int loop_run(struct config *cfg, const struct loop_opts *opts);

#endif
