/* A range of a BGZF BCF file counted by the variant statistics kernel in one call.
 *
 * vbcfdirect.DirectReader's Python loop did, per 1 MiB piece: one native inflate run, one
 * split_bcf call and one stats_update call, each through ctypes with its address tables
 * (~0.3 ms of interpreter work per piece, ~0.4 s of CPU on a 1M x 200 cohort). Here the
 * same loop runs in C: the inflate run of bgzf_native.c and the two precompiled kernels are
 * called through function pointers with tables the caller built once per range; the caller
 * is back in Python only when the range is done, the buffer must grow, or something went
 * wrong (st[S_STATUS]).
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int64_t (*gf_run_fn)(void *inflate_ptr, void *crc_ptr, void *decompressor,
                             const uint8_t *src, int64_t src_size, int64_t stop_address,
                             uint8_t *out, int64_t target, int64_t capacity,
                             int64_t *block_address, int64_t *block_start, int64_t max_blocks,
                             int64_t *state);
/* a numba cfunc wrapper (vnative._source): ints, address table, length table */
typedef int64_t (*gf_kernel_fn)(int64_t *ints, int64_t *ptrs, int64_t *lens);

/* gfcli_bgzf_inflate_run's state[] and reasons (bgzf_native.c) */
enum { R_ADDRESS, R_FILL, R_REASON, R_ERR_ADDRESS, R_ERR_VALUE, R_N };
enum { GF_END = 0, GF_STOP = 1, GF_FULL = 2, GF_TARGET = 3, GF_TABLE = 4 };

/* st[]: the range's state, kept between calls (vbcfdirect._LoopState names them) */
enum {
    S_ADDRESS,      /* the next block to inflate */
    S_POS,          /* the first byte of buf not yet split into records */
    S_FILL,         /* bytes in buf */
    S_STOP,         /* blocks at or past it are not read (-1: none) */
    S_END_ADDR,     /* the range's last block (-1: the range runs to the end) */
    S_END_WITHIN,   /* how many of its inflated bytes belong to the range (0: none) */
    S_PIECE,        /* inflated bytes wanted by the next run (doubles up to S_PIECE_MAX) */
    S_PIECE_MAX,
    S_CAP,          /* buf's size */
    S_SLACK,        /* free bytes wanted behind the carried ones before inflating */
    S_DROPPED,      /* mapped input released below this address */
    S_DROP_BYTES,   /* ... every this many compressed bytes */
    S_STOP_UNSET,   /* 1: stop after a batch that read an unset ring entry */
    S_STATUS,       /* out: ST_* */
    S_ERR_ADDRESS,  /* out: the failing block (ST_INFLATE) */
    S_ERR_VALUE,    /* out: its bad value (ST_INFLATE), or the kernel's result (ST_KERNEL) */
    S_ERR_REASON,   /* out: inflate_run's error code (ST_INFLATE) */
    S_QHI,          /* out: above every QUAL bin the kernel wrote (max over the batches) */
    S_N
};
enum { ST_DONE = 0, ST_GROW = 1, ST_INFLATE = 2, ST_TRUNCATED = 3, ST_KERNEL = 4,
       ST_UNSET = 5 };

#define TABLE 4096

/* The same pages as bgzf.drop_mapped_pages: [start, end) page-aligned inside. */
static int64_t drop_pages(const uint8_t *src, int64_t start, int64_t end) {
    int64_t page = sysconf(_SC_PAGESIZE);
    int64_t lo = (start + page - 1) / page * page;
    int64_t hi = end / page * page;
    if (hi > lo)
        madvise((void *)(src + lo), (size_t)(hi - lo), MADV_DONTNEED);
    return hi > start ? hi : start;
}

/* fns: inflate_run, split_bcf, stats_update. inflate: libdeflate's decompress and crc32,
 * the decompressor. src/src_size: the mapped file. buf: the inflate buffer (st[S_CAP]
 * bytes), also the shared/indiv arrays of the update table. split_ptrs/lens,
 * update_ptrs/lens: the kernels' tables (update's `n` goes in upd_ints[0]); split_out: the
 * array split_bcf writes (records, next offset); qhi: update's SCRATCH_QHI entry;
 * ring_state: the ring's state (entry 1 set when an unset entry was read).
 * Returns st[S_STATUS]. */
int64_t gfcli_vbcf_count(void **fns, void **inflate, const uint8_t *src, int64_t src_size,
                         uint8_t *buf, int64_t *split_ptrs, int64_t *split_lens,
                         int64_t *split_out, int64_t *update_ptrs, int64_t *update_lens,
                         int64_t *qhi, int64_t *ring_state, int64_t *st) {
    gf_run_fn run = (gf_run_fn)fns[0];
    gf_kernel_fn split = (gf_kernel_fn)fns[1];
    gf_kernel_fn update = (gf_kernel_fn)fns[2];
    int64_t addresses[TABLE], starts[TABLE], rs[R_N];
    for (;;) {
        if (st[S_ADDRESS] - st[S_DROPPED] >= st[S_DROP_BYTES])
            st[S_DROPPED] = drop_pages(src, st[S_DROPPED], st[S_ADDRESS]);
        int64_t fill = st[S_FILL];
        if (st[S_CAP] - fill < st[S_SLACK])
            return st[S_STATUS] = ST_GROW;
        int64_t target = st[S_PIECE] > fill + 1 ? st[S_PIECE] : fill + 1;
        rs[R_ADDRESS] = st[S_ADDRESS];
        rs[R_FILL] = fill;
        int64_t blocks = 0, last_address = -1, last_start = 0;
        for (;;) {
            int64_t n = run(inflate[0], inflate[1], inflate[2], src, src_size, st[S_STOP],
                            buf, target, st[S_CAP], addresses, starts, TABLE, rs);
            if (n) {
                last_address = addresses[n - 1];
                last_start = starts[n - 1];
                blocks += n;
            }
            if (rs[R_REASON] != GF_TABLE)
                break;
        }
        if (rs[R_REASON] < 0) {
            st[S_ERR_REASON] = rs[R_REASON];
            st[S_ERR_ADDRESS] = rs[R_ERR_ADDRESS];
            st[S_ERR_VALUE] = rs[R_ERR_VALUE];
            return st[S_STATUS] = ST_INFLATE;
        }
        st[S_PIECE] = 2 * st[S_PIECE] < st[S_PIECE_MAX] ? 2 * st[S_PIECE] : st[S_PIECE_MAX];
        int done = rs[R_REASON] == GF_END || rs[R_REASON] == GF_STOP;
        fill = rs[R_FILL];
        st[S_ADDRESS] = rs[R_ADDRESS];
        if (st[S_END_WITHIN] && blocks && last_address == st[S_END_ADDR]) {
            if (last_start + st[S_END_WITHIN] < fill)
                fill = last_start + st[S_END_WITHIN];
            done = 1;
        }
        st[S_FILL] = fill;
        if (rs[R_REASON] == GF_FULL && !blocks)  /* the next block does not fit */
            return st[S_STATUS] = ST_GROW;
        int64_t pos = st[S_POS] > fill ? fill : st[S_POS];
        while (pos < fill) {
            int64_t bounds[2] = {pos, fill};
            split(bounds, split_ptrs, split_lens);
            int64_t n = split_out[0];
            if (n == 0)
                break;
            *qhi = 0;
            int64_t r = update(&n, update_ptrs, update_lens);
            if (*qhi > st[S_QHI])
                st[S_QHI] = *qhi;
            pos = split_out[1];
            if (r != n) {
                st[S_POS] = pos;
                st[S_ERR_VALUE] = r;
                return st[S_STATUS] = ST_KERNEL;
            }
            if (st[S_STOP_UNSET] && ring_state[1]) {
                st[S_POS] = pos;
                return st[S_STATUS] = ST_UNSET;
            }
        }
        int64_t rest = fill - pos;
        if (done) {
            st[S_DROPPED] = drop_pages(src, st[S_DROPPED], st[S_ADDRESS]);
            st[S_POS] = pos;
            return st[S_STATUS] = rest ? ST_TRUNCATED : ST_DONE;
        }
        if (rest)
            memmove(buf, buf + pos, (size_t)rest);
        st[S_FILL] = rest;
        st[S_POS] = 0;
    }
}
