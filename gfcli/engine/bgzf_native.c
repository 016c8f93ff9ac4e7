/* A run of consecutive BGZF blocks of a mapped file inflated in one call (see
 * bgzf_native.py, which builds this file once per machine and formats the errors).
 *
 * libdeflate is reached through function pointers the caller takes from the library
 * gfcli already loaded (the `deflate` package's extension or the system libdeflate),
 * so this object links against nothing. Every block is checked as htslib does: gzip
 * magic, the BC subfield (BSIZE), the block within the file, ISIZE <= 64 KiB, the
 * deflate stream producing exactly ISIZE bytes, and CRC32.
 */

#include <stddef.h>
#include <stdint.h>

typedef int (*gf_inflate_fn)(void *decompressor, const void *in, size_t in_len, void *out,
                             size_t out_len, size_t *actual_out);
typedef uint32_t (*gf_crc32_fn)(uint32_t crc, const void *data, size_t len);

/* Why a run ended (state[GF_REASON]): >= 0 normal, < 0 an error at state[GF_ERR_ADDRESS]. */
enum {
    GF_END = 0,       /* the end of the source */
    GF_STOP = 1,      /* the next block is at or past stop_address */
    GF_FULL = 2,      /* the next block's ISIZE does not fit below capacity */
    GF_TARGET = 3,    /* fill reached target */
    GF_TABLE = 4,     /* the block tables are full */
    GF_NOT_BGZF = -1,       /* fewer than 18 bytes left, or no gzip/FEXTRA magic */
    GF_HEADER_CUT = -2,     /* the extra field runs past the end of the source */
    GF_NO_BSIZE = -3,       /* no BC subfield */
    GF_TRUNCATED = -4,      /* the block runs past the end of the source */
    GF_BAD_ISIZE = -5,      /* ISIZE > 64 KiB (state[GF_ERR_VALUE] = ISIZE) */
    GF_BAD_BSIZE = -6,      /* BSIZE too small for header + footer (value = block size) */
    GF_CORRUPT = -7,        /* libdeflate failed or produced another size than ISIZE */
    GF_CRC = -8,            /* CRC32 mismatch */
};

/* state[] slots (int64) */
enum { GF_ADDRESS = 0, GF_FILL = 1, GF_REASON = 2, GF_ERR_ADDRESS = 3, GF_ERR_VALUE = 4,
       GF_STATE_SLOTS = 5 };

#define GF_HEADER_SIZE 18
#define GF_FOOTER_SIZE 8
#define GF_MAX_BLOCK 65536

static inline uint32_t gf_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static inline uint32_t gf_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* The block's total size (BSIZE + 1) and its extra-field length, or an error code. */
static int64_t gf_block_size(const uint8_t *src, int64_t size, int64_t a, int64_t *xlen_out) {
    if (size - a < GF_HEADER_SIZE || src[a] != 0x1f || src[a + 1] != 0x8b || src[a + 2] != 8 ||
        src[a + 3] != 4)
        return GF_NOT_BGZF;
    int64_t xlen = gf_u16(src + a + 10);
    *xlen_out = xlen;
    if (xlen == 6 && src[a + 12] == 'B' && src[a + 13] == 'C')
        return (int64_t)gf_u16(src + a + 16) + 1;
    int64_t p = a + 12, stop = p + xlen;
    if (stop > size)
        return GF_HEADER_CUT;
    while (p + 4 <= stop) {
        int64_t slen = gf_u16(src + p + 2);
        if (src[p] == 'B' && src[p + 1] == 'C' && slen == 2) {
            if (p + 6 > size)
                return GF_HEADER_CUT;
            return (int64_t)gf_u16(src + p + 4) + 1;
        }
        p += 4 + slen;
    }
    return GF_NO_BSIZE;
}

/* Inflate blocks from state[GF_ADDRESS] into out[state[GF_FILL]:], one after the other,
 * until the end of the source, a block at or past stop_address (-1: none), a block that
 * would not fit below `capacity`, fill >= target, or max_blocks blocks. For each block
 * inflated: its file address and where its data starts in `out`. Updates the address and
 * fill in state[], sets the reason, and returns the number of blocks inflated (on an error,
 * those before the failing block). */
int64_t gfcli_bgzf_inflate_run(void *inflate_ptr, void *crc_ptr, void *decompressor,
                               const uint8_t *src, int64_t src_size, int64_t stop_address,
                               uint8_t *out, int64_t target, int64_t capacity,
                               int64_t *block_address, int64_t *block_start, int64_t max_blocks,
                               int64_t *state) {
    gf_inflate_fn inflate = (gf_inflate_fn)inflate_ptr;
    gf_crc32_fn crc32 = (gf_crc32_fn)crc_ptr;
    int64_t a = state[GF_ADDRESS], fill = state[GF_FILL], n = 0, reason = GF_END;
    for (;;) {
        if (fill >= target) { reason = GF_TARGET; break; }
        if (a >= src_size) { reason = GF_END; break; }
        if (stop_address >= 0 && a >= stop_address) { reason = GF_STOP; break; }
        if (n >= max_blocks) { reason = GF_TABLE; break; }
        int64_t xlen = 0;
        int64_t total = gf_block_size(src, src_size, a, &xlen);
        if (total < 0) { reason = total; break; }
        if (a + total > src_size) { reason = GF_TRUNCATED; break; }
        const uint8_t *foot = src + a + total - GF_FOOTER_SIZE;
        uint32_t crc = gf_u32(foot);
        int64_t isize = gf_u32(foot + 4);
        if (isize > GF_MAX_BLOCK) { reason = GF_BAD_ISIZE; state[GF_ERR_VALUE] = isize; break; }
        if (fill + isize > capacity) { reason = GF_FULL; break; }
        if (isize) {
            int64_t start = a + 12 + xlen, end = a + total - GF_FOOTER_SIZE;
            if (end < start) { reason = GF_BAD_BSIZE; state[GF_ERR_VALUE] = total; break; }
            if (inflate(decompressor, src + start, (size_t)(end - start), out + fill,
                        (size_t)isize, NULL) != 0) {
                reason = GF_CORRUPT;
                break;
            }
            if (crc32(0, out + fill, (size_t)isize) != crc) { reason = GF_CRC; break; }
        }
        block_address[n] = a;
        block_start[n] = fill;
        n++;
        fill += isize;
        a += total;
    }
    state[GF_ADDRESS] = a;
    state[GF_FILL] = fill;
    state[GF_REASON] = reason;
    if (reason < 0)
        state[GF_ERR_ADDRESS] = a;
    return n;
}

/* Blocks from `address` whose ISIZEs add up to at least `want` bytes (or up to the end of
 * the source or stop_address), by reading headers and footers only: the address after the
 * last one, or an error code (< 0) with the failing block's address in *err_address.
 * Lets threads split a file into runs to inflate independently. */
int64_t gfcli_bgzf_span(const uint8_t *src, int64_t src_size, int64_t address,
                        int64_t stop_address, int64_t want, int64_t *err_address) {
    int64_t a = address, got = 0;
    while (got < want && a < src_size && (stop_address < 0 || a < stop_address)) {
        int64_t xlen = 0;
        int64_t total = gf_block_size(src, src_size, a, &xlen);
        if (total < 0) { *err_address = a; return total; }
        if (a + total > src_size) { *err_address = a; return GF_TRUNCATED; }
        got += gf_u32(src + a + total - 4);
        a += total;
    }
    return a;
}
