/*
 * store_int.h — what store.c shares with store_read.c and nothing else.
 */
#ifndef JD_STORE_INT_H
#define JD_STORE_INT_H

#include "store/store.h"

#include <hiredis/hiredis.h>

/**
 * @brief The live connection for one round trip (counted), or NULL when
 *        disconnected. Valid until the next store_* call.
 */
redisContext *store_ctx(struct store *s);

#endif
