/* What the Node addons share: errors thrown as Node's fs errors look (an Error with code, errno,
 * syscall and path, so the TypeScript side maps them as it maps fs errors), argument helpers and
 * the module's exports. */
#ifndef CTL_NAPI_ERRORS_H
#define CTL_NAPI_ERRORS_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

/* The errno's name as Node spells it ("ENOENT", "ENOTSUP", ...). */
const char *errno_name(int err);
void throw_errno(napi_env env, int err, const char *syscall, const char *path);
/* A string argument as a NUL-terminated copy (free it); NULL with a TypeError thrown. */
char *string_arg(napi_env env, napi_value value, const char *what);
/* The call's arguments into argv (at most want); how many were given. */
size_t get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want);
/* All want arguments into argv; false, with a TypeError naming the usage, when fewer were given. */
bool need_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *usage);

struct named_function {
  const char *name;
  napi_callback fn;
};
/* exports.<name> = fn for each, enumerable: an addon's module init. */
napi_value export_functions(napi_env env, napi_value exports, const struct named_function *fns, size_t n);

#endif
