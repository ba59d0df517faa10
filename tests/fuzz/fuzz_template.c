/*
 * fuzz_template.c — annotation templates: compiled, then rendered with and
 * without a value, into a buffer too small and one large enough.
 */
#include "fuzz.h"

#include "evaluate/template.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], small[8], big[4096];
    static const struct template_label labels[] = { { "alertname", "Fuzz" },
                                                    { "channel", "douyin" },
                                                    { "campaign", "spring-launch" } };
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct template *t = template_compile(text, err, sizeof(err));
    if (t) {
        struct template_ctx a = { true, 1845.5, true, 1.2e3, labels, 3 };
        struct template_ctx b = { true, -0.0, true, NAN, NULL, 0 };
        template_render(t, &a, small, sizeof(small));
        template_render(t, &a, big, sizeof(big));
        template_render(t, &b, big, sizeof(big));
        template_render(t, NULL, NULL, 0);
        template_destroy(t);
    }
    free(text);
    return 0;
}
