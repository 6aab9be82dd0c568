/* OCI hooks (hooks.c). */
#ifndef CTL_HOOKS_H
#define CTL_HOOKS_H

#include <jansson.h>
#include "error.h"

struct state;

int hooks_run(json_t *spec, const char *kind, json_t *state, struct ctl_err *e);
/* Runs the hooks of one kind whose failure must not fail the operation (poststart, poststop):
 * a failure is logged as a warning. Does nothing when spec is NULL or has no hooks. */
void hooks_run_warn(json_t *spec, const char *kind, struct state *st);

#endif
