#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
#include <zlib.h>
/* deflateInit2/inflateInit2 are macros; gzip (gRPC "gzip") needs windowBits 16+15. */
static inline int czlib_inflate_init2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
static inline int czlib_deflate_init2(z_streamp s, int level, int method, int windowBits, int memLevel, int strategy) {
    return deflateInit2(s, level, method, windowBits, memLevel, strategy);
}
#endif
