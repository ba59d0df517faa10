/*
 * chunk.c — encoding, decoding and compaction of window chunk records.
 *
 * Owns the byte format described in chunk.h: LEB128 varints, zigzag for
 * signed values (128-bit for sums, so totals never overflow), sparse or
 * dense sketches. The reader checks every length against the bytes left;
 * a damaged chunk is reported, never read past.
 */
#include "aggregate/chunk.h"

#include <stdlib.h>
#include <string.h>

__extension__ typedef unsigned __int128 chunk_u128;

size_t chunk_record_max(size_t nregs)
{
    /* offset, flags, 6 varints of <= 10 bytes, a 128-bit one of <= 19, the sparse sketch */
    return 2 + 10 + 10 + 19 + 4 * 10 + 19 + 10 + 3 * nregs;
}

static size_t chunk_put_uv(uint8_t *out, chunk_u128 v)
{
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        out[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

static size_t chunk_put_sv(uint8_t *out, jd_i128 v)
{
    /* zigzag: small magnitudes of either sign stay short */
    chunk_u128 z = v < 0 ? ~((chunk_u128)v << 1) : (chunk_u128)v << 1;
    return chunk_put_uv(out, z);
}

/* Bytes of the varint encoding of v. */
static size_t chunk_uv_len(size_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

size_t chunk_put_record(uint8_t *out, unsigned offset, const struct agg_delta *d,
                        const struct hll_update *regs, size_t nregs)
{
    size_t n = 2;
    uint8_t flags = 0;
    out[0] = (uint8_t)offset;
    n += chunk_put_uv(out + n, (chunk_u128)d->count);
    if (d->vcount) {
        flags |= CHUNK_F_VALUE;
        n += chunk_put_uv(out + n, (chunk_u128)d->vcount);
        n += chunk_put_sv(out + n, d->sum);
        n += chunk_put_sv(out + n, d->min);
        n += chunk_put_sv(out + n, d->max);
        n += chunk_put_sv(out + n, d->last_ts);
        n += chunk_put_sv(out + n, d->last);
    }
    if (d->wsum) {
        flags |= CHUNK_F_WEIGHT;
        n += chunk_put_sv(out + n, d->wsum);
    }
    if (nregs) {
        flags |= CHUNK_F_SPARSE;
        n += chunk_put_uv(out + n, nregs);
        for (size_t i = 0; i < nregs; i++) {
            out[n++] = (uint8_t)(regs[i].reg & 0xff);
            out[n++] = (uint8_t)(regs[i].reg >> 8);
            out[n++] = regs[i].rank;
        }
    }
    out[1] = flags;
    return n;
}

/*
 * Reads an unsigned varint that must fit in `bits` bits: at most
 * ceil(bits / 7) bytes, and the last of them may not carry bits beyond.
 */
static bool chunk_get_uv(struct chunk_iter *it, chunk_u128 *v, int bits)
{
    chunk_u128 r = 0;
    for (int shift = 0; shift < bits; shift += 7) {
        if (it->p >= it->end)
            return false;
        uint8_t b = *it->p++;
        uint8_t payload = b & 0x7f;
        if (bits - shift < 7 && (payload >> (bits - shift)))
            return false; /* more than `bits` bits */
        r |= (chunk_u128)payload << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false; /* longer than any value of `bits` bits */
}

static bool chunk_get_sv(struct chunk_iter *it, jd_i128 *v, int bits)
{
    chunk_u128 z;
    if (!chunk_get_uv(it, &z, bits))
        return false;
    *v = (jd_i128)(z >> 1) ^ -(jd_i128)(z & 1);
    return true;
}

static bool chunk_get_i64(struct chunk_iter *it, int64_t *v)
{
    jd_i128 w;
    if (!chunk_get_sv(it, &w, 64) || w > INT64_MAX || w < INT64_MIN)
        return false;
    *v = (int64_t)w;
    return true;
}

int chunk_next(struct chunk_iter *it, struct chunk_rec *rec)
{
    chunk_u128 u;
    if (it->p == it->end)
        return 0;
    if (it->end - it->p < 2)
        return -1;
    memset(rec, 0, sizeof(*rec));
    rec->offset = it->p[0];
    uint8_t flags = it->p[1];
    it->p += 2;
    if (rec->offset >= CHUNK_MAX_BUCKETS ||
        (flags & ~(CHUNK_F_VALUE | CHUNK_F_SPARSE | CHUNK_F_DENSE | CHUNK_F_WEIGHT)) ||
        ((flags & CHUNK_F_SPARSE) && (flags & CHUNK_F_DENSE)))
        return -1;
    if (!chunk_get_uv(it, &u, 63))
        return -1;
    rec->d.count = (int64_t)u;
    if (flags & CHUNK_F_VALUE) {
        if (!chunk_get_uv(it, &u, 63) || !chunk_get_sv(it, &rec->d.sum, 128) ||
            !chunk_get_i64(it, &rec->d.min) || !chunk_get_i64(it, &rec->d.max) ||
            !chunk_get_i64(it, &rec->d.last_ts) || !chunk_get_i64(it, &rec->d.last))
            return -1;
        rec->d.vcount = (int64_t)u;
    }
    if ((flags & CHUNK_F_WEIGHT) && !chunk_get_sv(it, &rec->d.wsum, 128))
        return -1;
    if (flags & CHUNK_F_SPARSE) {
        if (!chunk_get_uv(it, &u, 32) || u > (chunk_u128)(it->end - it->p) / 3)
            return -1;
        rec->nsparse = (size_t)u;
        rec->sparse = it->p;
        it->p += 3 * rec->nsparse;
    } else if (flags & CHUNK_F_DENSE) {
        if ((size_t)(it->end - it->p) < HLL_REGS)
            return -1;
        rec->dense = it->p;
        it->p += HLL_REGS;
    }
    return 1;
}

void chunk_rec_apply(const struct chunk_rec *rec, uint8_t *regs)
{
    for (size_t i = 0; i < rec->nsparse; i++) {
        const uint8_t *t = rec->sparse + 3 * i;
        uint16_t reg = (uint16_t)(t[0] | t[1] << 8);
        if (t[2] > regs[reg])
            regs[reg] = t[2];
    }
    if (rec->dense)
        hll_merge(regs, rec->dense);
}

enum jd_err chunk_compact(const void *blob, size_t len, uint8_t **out, size_t *outlen)
{
    struct agg_delta d[CHUNK_MAX_BUCKETS];
    uint8_t *regs[CHUNK_MAX_BUCKETS] = { NULL };
    bool used[CHUNK_MAX_BUCKETS] = { false };
    struct hll_update *tmp = NULL;
    struct chunk_iter it;
    struct chunk_rec rec;
    enum jd_err err = JD_OK;
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    int rc;

    *out = NULL;
    *outlen = 0;
    memset(d, 0, sizeof(d));
    chunk_iter_init(&it, blob, len);
    while ((rc = chunk_next(&it, &rec)) == 1) {
        used[rec.offset] = true;
        if (!agg_delta_merge_checked(&d[rec.offset], &rec.d)) {
            err = JD_ERR_INVALID; /* totals no real stream can reach: damage */
            goto out;
        }
        if (rec.nsparse || rec.dense) {
            if (!regs[rec.offset] && !(regs[rec.offset] = calloc(1, HLL_REGS))) {
                err = JD_ERR_NOMEM;
                goto out;
            }
            chunk_rec_apply(&rec, regs[rec.offset]);
        }
    }
    if (rc < 0) {
        err = JD_ERR_INVALID;
        goto out;
    }
    if (!(tmp = malloc(HLL_REGS * sizeof(*tmp)))) {
        err = JD_ERR_NOMEM;
        goto out;
    }
    for (unsigned b = 0; b < CHUNK_MAX_BUCKETS; b++)
        if (used[b]) /* bounds a sparse sketch of up to HLL_REGS/3 and a dense one */
            cap += chunk_record_max(regs[b] ? HLL_REGS / 3 + 1 : 0);
    if (!(buf = malloc(cap ? cap : 1))) {
        err = JD_ERR_NOMEM;
        goto out;
    }
    for (unsigned b = 0; b < CHUNK_MAX_BUCKETS; b++) {
        if (!used[b])
            continue;
        size_t nr = 0;
        if (regs[b])
            for (size_t r = 0; r < HLL_REGS; r++)
                if (regs[b][r])
                    tmp[nr++] = (struct hll_update){ (uint16_t)r, regs[b][r] };
        if (chunk_uv_len(nr) + 3 * nr < HLL_REGS) { /* whichever form is shorter */
            n += chunk_put_record(buf + n, b, &d[b], tmp, nr);
        } else {
            /* dense is smaller: write the stats, then the raw registers */
            size_t at = n;
            n += chunk_put_record(buf + n, b, &d[b], NULL, 0);
            buf[at + 1] |= CHUNK_F_DENSE;
            memcpy(buf + n, regs[b], HLL_REGS);
            n += HLL_REGS;
        }
    }
    /* the bound above is for 64 dense sketches: keep only what was written */
    uint8_t *fit = realloc(buf, n ? n : 1);
    *out = fit ? fit : buf;
    *outlen = n;
    buf = NULL;
out:
    free(buf);
    free(tmp);
    for (unsigned b = 0; b < CHUNK_MAX_BUCKETS; b++)
        free(regs[b]);
    return err;
}
