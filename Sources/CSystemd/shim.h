#ifndef BALCTL_CSYSTEMD_SHIM_H
#define BALCTL_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#endif
