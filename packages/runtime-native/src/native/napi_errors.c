#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "napi_errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Node spells errno 95 ENOTSUP (libuv's name); glibc's strerrorname_np says EOPNOTSUPP. */
const char *errno_name(int err) {
  if (err == ENOTSUP) return "ENOTSUP";
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char message[512];
  snprintf(message, sizeof message, "%s: %s, %s '%s'", errno_name(err), strerror(err), syscall, path);
  napi_value code, msg, error, value;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "path", value);
  napi_throw(env, error);
}

char *string_arg(napi_env env, napi_value value, const char *what) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    char message[64];
    snprintf(message, sizeof message, "%s must be a string", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  char *s = malloc(length + 1);
  if (!s) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, value, s, length + 1, &length);
  if (strlen(s) != length) {
    free(s);
    char message[64];
    snprintf(message, sizeof message, "%s must not hold a NUL byte", what);
    napi_throw_type_error(env, NULL, message);
    return NULL;
  }
  return s;
}

size_t get_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc;
}

bool need_args(napi_env env, napi_callback_info info, napi_value *argv, size_t want, const char *usage) {
  if (get_args(env, info, argv, want) >= want) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

napi_value export_functions(napi_env env, napi_value exports, const struct named_function *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_property_descriptor p = {fns[i].name, NULL, fns[i].fn, NULL, NULL, NULL, napi_enumerable, NULL};
    napi_define_properties(env, exports, 1, &p);
  }
  return exports;
}
