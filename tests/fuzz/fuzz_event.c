/*
 * fuzz_event.c — the event decoder, every dialect (flat JSON, MessagePack,
 * Segment, CloudEvents structured and binary).
 *
 * Input: optional Kafka headers, then the payload. If the input holds a NUL
 * byte, what precedes it is "name=value" lines (binary CloudEvents put the
 * event's attributes there, `ce_type=touch`), and what follows is the value.
 */
#include "fuzz.h"

#include "core/config.h"
#include "decode/event.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_HDRS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_decoder *dec;
    static struct event ev;
    static struct config_list touch = { 0 }, conv = { 0 };
    char err[256], names[FUZZ_MAX_HDRS][64];
    struct event_header hdrs[FUZZ_MAX_HDRS];
    size_t nh = 0;

    if (!dec) {
        struct event_decoder_opts o = { EVENT_ENC_AUTO, 64 * 1024, 32,   INT64_MAX,
                                        NULL,           &touch,    &conv };
        if (!(dec = event_decoder_new(&o, err, sizeof(err))))
            abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    const uint8_t *body = data;
    if (nul) {
        const uint8_t *p = data;
        while (p < nul && nh < FUZZ_MAX_HDRS) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(nul - p));
            const uint8_t *end = nl ? nl : nul;
            const uint8_t *eq = memchr(p, '=', (size_t)(end - p));
            if (eq && (size_t)(eq - p) < sizeof(names[0])) {
                memcpy(names[nh], p, (size_t)(eq - p));
                names[nh][eq - p] = '\0';
                hdrs[nh] = (struct event_header){ names[nh], (const char *)eq + 1,
                                                  (size_t)(end - eq - 1) };
                nh++;
            }
            p = end + 1;
        }
        body = nul + 1;
    }
    /* the decoder reads exactly len bytes: a private copy lets ASan see any overread */
    size_t len = size - (size_t)(body - data);
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, body, len);
    event_decode(dec, copy, len, hdrs, nh, INT64_MAX, &ev, err, sizeof(err));
    free(copy);
    return 0;
}
