/*
 * ctl_xattr.node: lgetxattr, llistxattr, lsetxattr and lremovexattr for Node, which has no
 * extended attribute calls (src/xattr.ts wraps it and gives errors their kind). Synchronous,
 * as the build's tree walks that use it are (their calls are a few microseconds each). Plain
 * node_api.h, no node-addon-api, headers from Node's prefix.
 *
 * Errors are thrown as Node's fs errors look: an Error with code ("ENOTSUP", "ENODATA", ...),
 * errno, syscall and path, so that the TypeScript side maps them as it maps fs errors.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "napi_errors.h"

/* lgetxattr(path, name): a Buffer, or null when the file has no such attribute (ENODATA). */
static napi_value get(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL;
  if (!need_args(env, info, argv, 2, "lgetxattr(path, name)")) return NULL;
  char *path = string_arg(env, argv[0], "path");
  char *name = path ? string_arg(env, argv[1], "name") : NULL;
  if (!name) goto out;
  for (;;) {
    ssize_t size = lgetxattr(path, name, NULL, 0);
    if (size < 0 && errno == ENODATA) {
      napi_get_null(env, &result);
      break;
    }
    if (size < 0) {
      throw_errno(env, errno, "lgetxattr", path);
      break;
    }
    void *data;
    napi_value buffer;
    if (napi_create_buffer(env, (size_t)size, &data, &buffer) != napi_ok) break;
    ssize_t got = size ? lgetxattr(path, name, data, (size_t)size) : 0;
    /* ERANGE: it grew between the two calls; ask its size again. */
    if (got < 0 && errno == ERANGE) continue;
    if (got < 0 && errno == ENODATA) {
      napi_get_null(env, &result);
      break;
    }
    if (got < 0) {
      throw_errno(env, errno, "lgetxattr", path);
      break;
    }
    if (got < size) napi_create_buffer_copy(env, (size_t)got, data, NULL, &buffer);
    result = buffer;
    break;
  }
out:
  free(path);
  free(name);
  return result;
}

/* llistxattr(path): the names, as the kernel lists them (those the caller may see). */
static napi_value list(napi_env env, napi_callback_info info) {
  napi_value argv[1], result = NULL;
  if (!need_args(env, info, argv, 1, "llistxattr(path)")) return NULL;
  char *path = string_arg(env, argv[0], "path");
  if (!path) return NULL;
  char *names = NULL;
  ssize_t size;
  for (;;) {
    size = llistxattr(path, NULL, 0);
    if (size <= 0) break;
    char *grown = realloc(names, (size_t)size);
    if (!grown) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      goto out;
    }
    names = grown;
    size = llistxattr(path, names, (size_t)size);
    if (size >= 0 || errno != ERANGE) break;
  }
  if (size < 0) {
    throw_errno(env, errno, "llistxattr", path);
    goto out;
  }
  napi_create_array(env, &result);
  uint32_t i = 0;
  for (ssize_t at = 0; at < size;) {
    size_t length = strnlen(names + at, (size_t)(size - at));
    napi_value name;
    napi_create_string_utf8(env, names + at, length, &name);
    napi_set_element(env, result, i++, name);
    at += (ssize_t)length + 1;
  }
out:
  free(names);
  free(path);
  return result;
}

/* lsetxattr(path, name, value, flags): value a Buffer or another TypedArray of bytes; flags XATTR_CREATE/XATTR_REPLACE or 0. */
static napi_value set(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  size_t argc = get_args(env, info, argv, 4);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "lsetxattr(path, name, value[, flags])");
    return NULL;
  }
  void *data = NULL;
  size_t length = 0;
  bool is_typed;
  napi_is_typedarray(env, argv[2], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    size_t count, offset;
    napi_value arraybuffer;
    napi_get_typedarray_info(env, argv[2], &type, &count, &data, &arraybuffer, &offset);
    if (type != napi_uint8_array && type != napi_int8_array && type != napi_uint8_clamped_array) is_typed = false;
    length = count;
  }
  if (!is_typed) {
    napi_throw_type_error(env, NULL, "value must be a Buffer or Uint8Array");
    return NULL;
  }
  int32_t flags = 0;
  if (argc > 3) {
    napi_valuetype kind;
    napi_typeof(env, argv[3], &kind);
    if (kind == napi_number) napi_get_value_int32(env, argv[3], &flags);
  }
  char *path = string_arg(env, argv[0], "path");
  char *name = path ? string_arg(env, argv[1], "name") : NULL;
  if (name && lsetxattr(path, name, data, length, flags) < 0) throw_errno(env, errno, "lsetxattr", path);
  free(path);
  free(name);
  return NULL;
}

/* lremovexattr(path, name). */
static napi_value removexattr_(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!need_args(env, info, argv, 2, "lremovexattr(path, name)")) return NULL;
  char *path = string_arg(env, argv[0], "path");
  char *name = path ? string_arg(env, argv[1], "name") : NULL;
  if (name && lremovexattr(path, name) < 0) throw_errno(env, errno, "lremovexattr", path);
  free(path);
  free(name);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct named_function fns[] = {{"lgetxattr", get}, {"llistxattr", list}, {"lsetxattr", set}, {"lremovexattr", removexattr_}};
  return export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
