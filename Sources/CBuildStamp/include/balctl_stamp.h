#ifndef BALCTL_STAMP_H
#define BALCTL_STAMP_H
/* The version a built binary carries, as a C string (see stamp.c). */
const char *balctl_version_stamp(void);
#endif
