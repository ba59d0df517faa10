/*
 * ctl.h — what journeyctl's command files share.
 */
#ifndef JD_CTL_H
#define JD_CTL_H

#include "core/config.h"

#define EXIT_USAGE  2
#define EXIT_CONFIG 78

/** Load the config at \p path (NULL: defaults) plus JOURNEYD_* env; NULL after printing why. */
struct config *ctl_config(const char *path);

/** journeyctl [-c FILE] check rules FILE|DIR… (the config gives the retention ranges are checked
 * against) */
int ctl_check_rules(const char *cfgpath, int argc, char **argv);

/** journeyctl test rules [--tap] FILE… */
int ctl_test_rules(const char *cfgpath, int argc, char **argv);

/** journeyctl replay --rules DIR|FILE… [--lateness D] [EVENTS|-] */
int ctl_replay(const char *cfgpath, int argc, char **argv);

/** journeyctl attribution --paths FILE [--model M]... [--order K] [--format F] [--output FILE] */
int ctl_attribution(const char *cfgpath, int argc, char **argv);

#endif
