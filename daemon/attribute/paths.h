/*
 * paths.h — aggregated conversion paths: the input of batch attribution.
 *
 * A path set is a channel table (names interned to indices) and rows: a
 * touch sequence (channel indices, oldest first, as observed: repeats kept)
 * with the conversions, conversion value and null journeys that followed it.
 * It is what ChannelAttribution calls path data, and paths_parse_csv()
 * reads that package's format:
 *
 *   path,total_conversions,total_conversion_value,total_null
 *   "eta > iota > alpha > eta",1,0.244,3
 *
 * (columns found by header name; value and null columns optional; channels
 * separated by `>` with optional spaces). Parsing takes bytes, no I/O.
 */
#ifndef JD_PATHS_H
#define JD_PATHS_H

#include "core/err.h"
#include "core/jd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest channel name (events.md's bound). */
#define PATHS_CHANNEL_MAX 64

struct paths_row {
    size_t off;   /**< first touch in paths.touch */
    uint32_t n;   /**< touches; 0: conversions without any touch ("(none)") */
    double conv;  /**< conversions */
    double value; /**< their total value */
    double nulls; /**< journeys on this path that did not convert */
};

struct paths {
    char **names; /**< channel names, NUL-terminated, by index */
    size_t nnames, capnames;
    uint32_t *touch; /**< every row's channel indices, concatenated */
    size_t ntouch, captouch;
    struct paths_row *rows;
    size_t nrows, caprows;
    uint32_t *tab; /* name index + 1, open addressing */
    size_t tabcap;
};

/** @returns an empty path set (NULL when out of memory). */
struct paths *paths_new(void);

/** Free \p p; NULL is a no-op. */
void paths_destroy(struct paths *p);

/** @returns the index of channel \p name (added on first sight), UINT32_MAX when out of memory. */
uint32_t paths_channel(struct paths *p, struct jd_str name);

/**
 * @brief Add a row (channel indices \p ch[0..n) are copied).
 * @returns false when out of memory.
 */
bool paths_add(struct paths *p, const uint32_t *ch, size_t n, double conv, double value,
               double nulls);

/**
 * @brief Read ChannelAttribution path data from \p buf.
 * @param name the file name for messages (`name:line:col: message`).
 * @returns JD_OK, JD_ERR_PARSE (errstr says where and why) or JD_ERR_NOMEM.
 */
enum jd_err paths_parse_csv(struct paths *p, const char *buf, size_t len, const char *name,
                            char *errstr, size_t errstr_size);

#endif
