/* SPDX-License-Identifier: MIT */
/*
 * quiesce.h - unmount every 9p share before the VM's state is saved
 * (grain-quiesce) and mount them again afterwards (grain-thaw)
 */
#ifndef GRAINVM_AGENT_QUIESCE_H
#define GRAINVM_AGENT_QUIESCE_H

#include <stdbool.h>

#include "proto.h"

/* Has grain-quiesce unmounted shares that grain-thaw has not remounted? */
bool quiesce_active(void);

int cmd_grain_quiesce(struct req *r);
int cmd_grain_thaw(struct req *r);

#endif
