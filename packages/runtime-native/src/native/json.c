/* Typed lookups in jansson objects (json.h). */
#include "json.h"
#include <stdlib.h>
#include <string.h>

json_t *jpath(json_t *root, const char *dotted) {
  char *buf = strdup(dotted);
  if (!buf) abort();
  json_t *cur = root;
  for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && cur; tok = strtok_r(NULL, ".", &save))
    cur = json_is_object(cur) ? json_object_get(cur, tok) : NULL;
  free(buf);
  return cur;
}

const char *jstr(json_t *o, const char *key) {
  json_t *v = o ? json_object_get(o, key) : NULL;
  return json_is_string(v) ? json_string_value(v) : NULL;
}

bool jbool(json_t *o, const char *key) { return json_is_true(o ? json_object_get(o, key) : NULL); }

bool jint(json_t *o, const char *key, long long *out) {
  json_t *v = o ? json_object_get(o, key) : NULL;
  if (!json_is_integer(v)) return false;
  *out = json_integer_value(v);
  return true;
}

void ctl_json_decrefp(json_t **j) {
  if (*j) json_decref(*j);
}
