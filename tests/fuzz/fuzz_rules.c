/*
 * fuzz_rules.c — a rule file, through libyaml, the document checks, the
 * expression and template compilers and the rule checks, as
 * `journeyctl check rules` reads it (size capped as the loader caps it).
 */
#include "fuzz.h"

#include "core/ydoc.h"
#include "evaluate/rule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char name[] = "fuzz.yaml";
    char *names[] = { name };
    const char *bufs[] = { (const char *)data };
    size_t lens[] = { size };
    struct rule_diags diags = { 0 };

    if (size > YDOC_MAX_BYTES)
        return 0;
    ruleset_destroy(ruleset_parse(names, bufs, lens, 1, NULL, &diags));
    rule_diags_free(&diags);
    return 0;
}
