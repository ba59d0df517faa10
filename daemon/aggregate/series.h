/*
 * series.h — the identity of a window series: an event type plus its labels.
 *
 * Labels are `channel`, `campaign` and every `props` key, sorted by name;
 * absent and empty labels are omitted (as in Prometheus). The canonical
 * encoding "name\x1fvalue\x1ename\x1fvalue" is what the series index stores;
 * validation guarantees no label contains a control character, so the
 * separators are unambiguous. The series id is a 64-bit hash of type and
 * encoding, printed as 16 hex digits in key names.
 */
#ifndef JD_SERIES_H
#define JD_SERIES_H

#include "core/jd.h"
#include "decode/event.h"

#include <stddef.h>
#include <stdint.h>

#define SERIES_SEP_PAIR  '\x1e' /* between labels */
#define SERIES_SEP_VALUE '\x1f' /* between a label's name and value */

/** Largest possible encoding (64 props of 64+256 bytes plus channel and campaign). */
#define SERIES_LABELS_MAX (66 * (64 + 256 + 2))

/** A decoded label (slices into the encoding). */
struct series_label {
    struct jd_str name, value;
};

/**
 * @brief Encode \p ev's labels canonically into \p buf (SERIES_LABELS_MAX bytes).
 * @returns the length.
 */
size_t series_labels_encode(const struct event *ev, char *buf);

/** @returns the series id of \p type with label encoding \p labels. */
uint64_t series_id(struct jd_str type, const char *labels, size_t n);

/** Print \p sid as 16 lowercase hex digits plus NUL. */
void series_id_hex(uint64_t sid, char out[17]);

/**
 * @brief Split an encoding into labels.
 * @returns the number of labels (at most \p cap are stored).
 */
size_t series_labels_decode(const char *enc, size_t n, struct series_label *out, size_t cap);

#endif
