/* config.json: loading and validation (spec.c). */
#ifndef CTL_SPEC_H
#define CTL_SPEC_H

#include <jansson.h>
#include "error.h"

/* The bundle's config.json, validated: a bad bundle fails here, before anything is made. */
json_t *spec_load(const char *bundle, struct ctl_err *e);
/* config.json as it is, NULL if unreadable: for the hooks of a container created earlier. */
json_t *spec_load_unchecked(const char *bundle);
int spec_validate_process(json_t *process, const char *where, struct ctl_err *e);
int rlimit_from_name(const char *name);

#endif
