/*
 * fuzz_expr.c — the rule expression parser (the text of `expr:`).
 */
#include "fuzz.h"

#include "evaluate/expr.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    expr_free(expr_parse(text, err, sizeof(err)));
    free(text);
    return 0;
}
