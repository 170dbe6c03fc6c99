#ifndef BALCTL_CARCHIVE_SHIM_H
#define BALCTL_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>

/* libarchive's AE_IF* macros carry casts Swift cannot import: re-export them as constants. */
static const unsigned int BALCTL_AE_IFMT = AE_IFMT;
static const unsigned int BALCTL_AE_IFREG = AE_IFREG;
static const unsigned int BALCTL_AE_IFLNK = AE_IFLNK;
static const unsigned int BALCTL_AE_IFDIR = AE_IFDIR;
static const unsigned int BALCTL_AE_IFCHR = AE_IFCHR;
static const unsigned int BALCTL_AE_IFBLK = AE_IFBLK;
static const unsigned int BALCTL_AE_IFIFO = AE_IFIFO;
static const unsigned int BALCTL_AE_IFSOCK = AE_IFSOCK;
#endif
