/* Capabilities: names, the five sets, the bounding set (caps.c). */
#ifndef CTL_CAPS_H
#define CTL_CAPS_H

#include <jansson.h>
#include "error.h"

int caps_parse(json_t *caps, unsigned long long out[5], struct ctl_err *e); /* b,e,i,p,a */
int caps_drop_bounding(unsigned long long bounding, struct ctl_err *e);
int caps_apply(unsigned long long sets[5], struct ctl_err *e);
int cap_from_name(const char *name);

#endif
