// libzstd (already loaded by libarchive): the snapshot writer drives it directly so that it can
// give zstd a worker thread with small jobs (libarchive's filter sets no job size: its default
// 2 MiB jobs cost ~15 MiB of buffers, over the agent's memory budget).
#include <zstd.h>
