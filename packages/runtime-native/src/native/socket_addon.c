/*
 * ctl_socket.node: a unix stream socket for the command line's gRPC client, polled on Node's own
 * event loop. Loading node:net loads all of Node's streams with it, and a net.Socket's set-up
 * is a few milliseconds more: together about a fifth of a short command such as `ctl version`
 * (src/socket.ts has the figures). The HTTP/2 client above needs bytes in and bytes out, which
 * this gives: connect, write what the kernel takes, read whatever arrives, shut down, close.
 *
 * connect(path, onEvent) returns a handle; onEvent(kind, value) is called from the event loop:
 *   EVENT_DATA with a Buffer, EVENT_END at end of input, EVENT_WRITABLE once a write that the
 *   kernel refused (write returned 0) may be retried, EVENT_ERROR with the errno's name.
 * write(handle, buffer) returns how much the kernel took (0: try again at EVENT_WRITABLE);
 * shutdown(handle) ends the output; close(handle) stops polling and closes the descriptor;
 * ref(handle, bool) says whether the socket keeps the event loop alive.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "napi_errors.h"
#include "unix_path.h"

enum { EVENT_DATA = 0, EVENT_END = 1, EVENT_WRITABLE = 2, EVENT_ERROR = 3 };

/* What one wakeup reads at most before it lets the loop run other work. */
#define READ_CHUNK (256 * 1024)

struct sock {
  uv_poll_t poll;
  int fd;
  int events;
  int closed;
  napi_env env;
  napi_ref on_event;
  napi_async_context context;
};

/* After the loop has let go of the handle: a close from inside onEvent leaves the callback's
 * context alive until that call has returned. */
static void freed(uv_handle_t *handle) {
  struct sock *s = handle->data;
  napi_delete_reference(s->env, s->on_event);
  napi_async_destroy(s->env, s->context);
  free(s);
}

static void stop(struct sock *s) {
  if (s->closed) return;
  s->closed = 1;
  uv_poll_stop(&s->poll);
  close(s->fd);
  uv_close((uv_handle_t *)&s->poll, freed);
}

static void on_poll(uv_poll_t *poll, int status, int events);

static void set_events(struct sock *s, int events) {
  if (s->closed || events == s->events) return;
  s->events = events;
  if (events)
    uv_poll_start(&s->poll, events, on_poll);
  else
    uv_poll_stop(&s->poll);
}

/* Calls onEvent(kind, value) as Node calls into JavaScript from its loop: nextTicks and
 * promises run after, and an exception is the process's uncaught exception. */
static void emit(struct sock *s, int kind, napi_value value) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, recv, argv[2], result;
  napi_get_reference_value(env, s->on_event, &fn);
  /* napi_make_callback wants an object for `this` */
  napi_get_global(env, &recv);
  napi_create_int32(env, kind, &argv[0]);
  if (value)
    argv[1] = value;
  else
    napi_get_undefined(env, &argv[1]);
  if (napi_make_callback(env, s->context, recv, fn, 2, argv, &result) == napi_pending_exception) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static void emit_error(struct sock *s, int err) {
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value name;
  napi_create_string_utf8(s->env, errno_name(err), NAPI_AUTO_LENGTH, &name);
  emit(s, EVENT_ERROR, name);
  napi_close_handle_scope(s->env, scope);
}

static void on_readable(struct sock *s) {
  static char chunk[READ_CHUNK];
  ssize_t n;
  do n = read(s->fd, chunk, sizeof chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN) {
      set_events(s, 0);
      emit_error(s, errno);
    }
    return;
  }
  if (n == 0) {
    set_events(s, s->events & ~UV_READABLE);
    emit(s, EVENT_END, NULL);
    return;
  }
  napi_handle_scope scope;
  napi_open_handle_scope(s->env, &scope);
  napi_value buffer;
  void *data;
  if (napi_create_buffer_copy(s->env, (size_t)n, chunk, &data, &buffer) == napi_ok) emit(s, EVENT_DATA, buffer);
  napi_close_handle_scope(s->env, scope);
}

static void on_poll(uv_poll_t *poll, int status, int events) {
  struct sock *s = poll->data;
  if (status < 0) {
    set_events(s, 0);
    emit_error(s, -status);
    return;
  }
  if (events & UV_WRITABLE) {
    set_events(s, s->events & ~UV_WRITABLE);
    emit(s, EVENT_WRITABLE, NULL);
  }
  /* the callback above may have closed it */
  if (!s->closed && (events & (UV_READABLE | UV_DISCONNECT))) on_readable(s);
}

static struct sock *handle_arg(napi_env env, napi_value value) {
  void *s = NULL;
  if (napi_get_value_external(env, value, &s) != napi_ok || !s) napi_throw_type_error(env, NULL, "not a socket handle");
  return s;
}

/* connect(path, onEvent): a handle, connected; throws as fs calls do (ENOENT, ECONNREFUSED). */
static napi_value js_connect(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL;
  napi_valuetype type;
  if (get_args(env, info, argv, 2) < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "connect(path, onEvent)");
    return NULL;
  }
  char *path = string_arg(env, argv[0], "path");
  if (!path) return NULL;
  struct sockaddr_un address;
  int dir = unix_path_address(path, &address);
  if (dir == -1) {
    throw_errno(env, errno, "connect", path);
    free(path);
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int err = 0;
  if (fd < 0)
    err = errno;
  else if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0)
    err = errno;
  if (dir >= 0) close(dir);
  /* a unix socket connects at once or not at all: EAGAIN is a full backlog, an error as in net */
  if (err) {
    if (fd >= 0) close(fd);
    throw_errno(env, err, "connect", path);
    free(path);
    return NULL;
  }
  free(path);
  struct sock *s = calloc(1, sizeof *s);
  uv_loop_t *loop;
  napi_value name;
  if (!s || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    free(s);
    close(fd);
    napi_throw_error(env, "EUNKNOWN", "connect: cannot poll the socket");
    return NULL;
  }
  s->poll.data = s;
  s->fd = fd;
  s->env = env;
  napi_create_reference(env, argv[1], 1, &s->on_event);
  napi_create_string_utf8(env, "ctl.socket", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->context);
  s->events = UV_READABLE;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  napi_create_external(env, s, NULL, NULL, &result);
  return result;
}

/* write(handle, buffer): the bytes the kernel took; 0 and EVENT_WRITABLE later when it took none. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL;
  if (!need_args(env, info, argv, 2, "write(handle, buffer)")) return NULL;
  struct sock *s = handle_arg(env, argv[0]);
  if (!s) return NULL;
  void *data;
  size_t length;
  if (napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "write: buffer must be a Buffer");
    return NULL;
  }
  if (s->closed) {
    throw_errno(env, EBADF, "write", "socket");
    return NULL;
  }
  ssize_t n;
  do n = send(s->fd, data, length, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN) {
    throw_errno(env, errno, "write", "socket");
    return NULL;
  }
  if (n < 0 || (size_t)n < length) set_events(s, s->events | UV_WRITABLE);
  napi_create_double(env, n < 0 ? 0 : (double)n, &result);
  return result;
}

static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!need_args(env, info, argv, 1, "shutdown(handle)")) return NULL;
  struct sock *s = handle_arg(env, argv[0]);
  if (s && !s->closed) shutdown(s->fd, SHUT_WR);
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!need_args(env, info, argv, 1, "close(handle)")) return NULL;
  struct sock *s = handle_arg(env, argv[0]);
  if (s) stop(s);
  return NULL;
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool on = true;
  if (!need_args(env, info, argv, 2, "ref(handle, on)")) return NULL;
  struct sock *s = handle_arg(env, argv[0]);
  napi_get_value_bool(env, argv[1], &on);
  if (s && !s->closed) on ? uv_ref((uv_handle_t *)&s->poll) : uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct named_function fns[] = {
      {"connect", js_connect}, {"write", js_write}, {"shutdown", js_shutdown}, {"close", js_close}, {"ref", js_ref}};
  return export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
