#include "balctl_stamp.h"

/*
 * The version lives in a writable array behind a marker so that `balctl-server bundle
 * --version V` can stamp a built agent binary without recompiling it (as Go's -ldflags -X does):
 * it finds the one "@(#)balctl-version:" in the file and rewrites the bytes after it. The array
 * is not const and is read through this function from another module, so the compiler cannot
 * fold the default into the code that reads it. 64 bytes: marker (19) + version + NUL.
 */
__attribute__((used)) char balctl_version_stamp_bytes[64] = "@(#)balctl-version:0.1.0";

const char *balctl_version_stamp(void) { return balctl_version_stamp_bytes + 19; }
