/*
 * chart.h — a grouped bar chart (channels × attribution models) as SVG.
 *
 * Pure: chart_svg() turns numbers and names into one standalone SVG document
 * (no scripts, no external assets, no ids or <style>, so several can be
 * inlined in one HTML page) and returns it as a string. It knows no I/O,
 * no report rows and no model names; report_write.c maps a report onto a
 * struct chart and writes the result wherever it goes.
 *
 * Layout: the title, then a legend (one colour per series, from a fixed
 * colour-blind-friendly palette), then the panels stacked vertically, each
 * with its own y axis from min(0, smallest value) to a "nice" maximum and
 * the groups along the x axis. Every caller text is XML-escaped; invalid
 * UTF-8 and characters XML forbids become U+FFFD.
 */
#ifndef JD_CHART_H
#define JD_CHART_H

#include <stddef.h>

/** One panel: a value per (group, series); NAN means "no bar". */
struct chart_panel {
    const char *title; /* e.g. "Attributed conversions" */
    const double *v;   /* ngroups x nseries, row-major: v[g * nseries + s] */
    const char *unit;  /* appended to axis labels, may be "" or NULL */
};

struct chart {
    const char *title;         /* whole chart title; may be NULL */
    const char *const *groups; /* x-axis groups (channels) */
    size_t ngroups;
    const char *const *series; /* bars within a group (models), one colour each, with a legend */
    size_t nseries;
    const struct chart_panel *panels; /* stacked vertically, sharing the legend */
    size_t npanels;
};

/** Render \p c as a standalone SVG document (<svg xmlns=...> root; no external assets, no scripts).
 *  Infinite values are drawn like NAN (no bar), as is every value of a panel whose v is NULL;
 *  a NULL title, unit or name counts as "" (groups, series and panels may be NULL only when empty).
 *  @returns a malloc'd NUL-terminated string (caller frees), *len set to its length (when \p len
 *  is not NULL); NULL when out of memory. */
char *chart_svg(const struct chart *c, size_t *len);

#endif
