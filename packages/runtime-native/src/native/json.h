/* Reading config.json and state.json: typed lookups that treat a missing or mistyped member as
 * absent, so callers test one result instead of a type and a value. */
#ifndef CTL_JSON_H
#define CTL_JSON_H

#include <stdbool.h>
#include <jansson.h>

json_t *jpath(json_t *root, const char *dotted); /* "linux.resources.memory" */
const char *jstr(json_t *o, const char *key);
bool jbool(json_t *o, const char *key);
bool jint(json_t *o, const char *key, long long *out);

void ctl_json_decrefp(json_t **j);
#define cleanup_json __attribute__((cleanup(ctl_json_decrefp)))

#endif
