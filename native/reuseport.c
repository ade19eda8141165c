// Listening sockets for the kernel data plane: a reuseport group whose member is chosen per
// connection by a classic BPF program (SO_ATTACH_REUSEPORT_CBPF). Node can create neither a
// listening socket it does not also listen() on in this process, nor attach such a program.
//
// Only plain POSIX/Linux calls that exist in every glibc since 2.17 are used, so one build serves
// every Linux of its architecture; Node-API keeps one build valid for every Node version >= 20.

#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif
#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define MAX_ARGS 4
#define MAX_INSTRUCTIONS 4096

// Throws an Error carrying `errno` (a number) and `syscall`; the JS side names the code.
static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  napi_value message, error, number, call;
  napi_create_string_utf8(env, strerror(err), NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  napi_create_int32(env, err, &number);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call);
  napi_set_named_property(env, error, "errno", number);
  napi_set_named_property(env, error, "syscall", call);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  return argc >= want;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
  return napi_get_value_int32(env, value, out) == napi_ok;
}

// host (numeric IPv4 or IPv6 text) + port -> sockaddr; returns the family or 0.
static int parse_address(napi_env env, napi_value host, int32_t port, struct sockaddr_storage *addr, socklen_t *len) {
  char text[64];
  size_t n = 0;
  if (napi_get_value_string_utf8(env, host, text, sizeof text, &n) != napi_ok || n >= sizeof text - 1) return 0;
  if (port < 0 || port > 65535) return 0;
  memset(addr, 0, sizeof *addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return AF_INET;
  }
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return AF_INET6;
  }
  return 0;
}

static int bound_port(int fd) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return -1;
  if (addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&addr)->sin_port);
  return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
}

// A bound socket, close-on-exec (or every child would inherit every slot's socket).
// SO_REUSEADDR as libuv sets it on every TCP bind, so TIME_WAIT leftovers never block a restart.
static int open_bound(napi_env env, napi_value host, int32_t port, int ipv6_only, int reuse_port, int *out_port) {
  struct sockaddr_storage addr;
  socklen_t len;
  int family = parse_address(env, host, port, &addr, &len);
  if (family == 0) {
    throw_type(env, "expected a numeric IPv4 or IPv6 address and a port in 0-65535");
    return -1;
  }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_errno(env, errno, "socket");
    return -1;
  }
  int on = 1;
  const char *failed = NULL;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) failed = "setsockopt";
  else if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) failed = "setsockopt";
  else if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &ipv6_only, sizeof ipv6_only) != 0) failed = "setsockopt";
  else if (bind(fd, (struct sockaddr *)&addr, len) != 0) failed = "bind";
  if (failed == NULL && (*out_port = bound_port(fd)) < 0) failed = "getsockname";
  if (failed != NULL) {
    int err = errno;
    close(fd);
    throw_errno(env, err, failed);
    return -1;
  }
  return fd;
}

// probeBind(host, port, ipv6Only) -> port. A plain bind (no SO_REUSEPORT), closed at once: fails
// with EADDRINUSE when anything listens on the address, which joining a reuseport group would not.
static napi_value probe_bind(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result;
  int32_t port;
  bool ipv6_only;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[1], &port) ||
      napi_get_value_bool(env, argv[2], &ipv6_only) != napi_ok) return throw_type(env, "probeBind(host, port, ipv6Only)");
  int bound;
  int fd = open_bound(env, argv[0], port, ipv6_only, 0, &bound);
  if (fd < 0) return NULL;
  close(fd);
  napi_create_int32(env, bound, &result);
  return result;
}

// listenReusePort(host, port, backlog, ipv6Only) -> [fd, port]. Its index in the group is the
// order of this listen(), not of the bind.
static napi_value listen_reuse_port(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result, value;
  int32_t port, backlog;
  bool ipv6_only;
  if (!get_args(env, info, 4, argv) || !get_int(env, argv[1], &port) || !get_int(env, argv[2], &backlog) ||
      napi_get_value_bool(env, argv[3], &ipv6_only) != napi_ok) return throw_type(env, "listenReusePort(host, port, backlog, ipv6Only)");
  int bound;
  int fd = open_bound(env, argv[0], port, ipv6_only, 1, &bound);
  if (fd < 0) return NULL;
  if (listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "listen");
  }
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fd, &value);
  napi_set_element(env, result, 0, value);
  napi_create_int32(env, bound, &value);
  napi_set_element(env, result, 1, value);
  return result;
}

// attachReusePortProgram(fd, Uint32Array of [code | jt << 16 | jf << 24, k] pairs). The program
// belongs to the whole group and replaces any program attached before.
static napi_value attach_program(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd) ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || length == 0 || length % 2 != 0 || length / 2 > MAX_INSTRUCTIONS) {
    return throw_type(env, "attachReusePortProgram(fd, Uint32Array of 1-4096 instructions)");
  }
  size_t count = length / 2;
  struct sock_filter *code = calloc(count, sizeof *code);
  if (code == NULL) return throw_errno(env, ENOMEM, "calloc");
  const uint32_t *words = data;
  for (size_t i = 0; i < count; i++) {
    uint32_t head = words[2 * i];
    code[i].code = (uint16_t)(head & 0xffff);
    code[i].jt = (uint8_t)((head >> 16) & 0xff);
    code[i].jf = (uint8_t)(head >> 24);
    code[i].k = words[2 * i + 1];
  }
  struct sock_fprog program = { .len = (unsigned short)count, .filter = code };
  int rc = setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program);
  int err = errno;
  free(code);
  if (rc != 0) return throw_errno(env, err, "setsockopt");
  return NULL;
}

// attachDropFilter(fd): the listening socket takes no new handshake from now on (its own filter,
// SO_ATTACH_FILTER, not the group's program): a client's SYN is dropped, so the client retries it
// and meets whatever listens by then (another member, or nobody: ECONNREFUSED). Every other segment
// passes, so a handshake already under way completes into the accept queue, where it waits to be
// accepted like the connections already there. A socket filter sees a TCP segment from its header:
// byte 13 holds the flags.
static napi_value attach_drop_filter(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return throw_type(env, "attachDropFilter(fd)");
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, 0),
    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
  };
  struct sock_fprog program = { .len = sizeof code / sizeof code[0], .filter = code };
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) != 0) return throw_errno(env, errno, "setsockopt");
  return NULL;
}

// acceptQueueLength(fd) -> connections the kernel completed on this listening socket that wait for
// accept(): what TCP_INFO reports for a listener in tcpi_unacked (its sk_ack_backlog).
static napi_value accept_queue_length(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result;
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return throw_type(env, "acceptQueueLength(fd)");
  struct tcp_info tcp;
  socklen_t len = sizeof tcp;
  memset(&tcp, 0, sizeof tcp);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &tcp, &len) != 0) return throw_errno(env, errno, "getsockopt");
  if (tcp.tcpi_state != TCP_LISTEN) return throw_errno(env, EINVAL, "getsockopt");
  napi_create_uint32(env, tcp.tcpi_unacked, &result);
  return result;
}

// closeSocket(fd): for sockets never wrapped in a Node handle (a failed group creation).
static napi_value close_socket(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  int32_t fd;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], &fd)) return throw_type(env, "closeSocket(fd)");
  if (close(fd) != 0) return throw_errno(env, errno, "close");
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    { "probeBind", NULL, probe_bind, NULL, NULL, NULL, napi_enumerable, NULL },
    { "listenReusePort", NULL, listen_reuse_port, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attachReusePortProgram", NULL, attach_program, NULL, NULL, NULL, napi_enumerable, NULL },
    { "attachDropFilter", NULL, attach_drop_filter, NULL, NULL, NULL, napi_enumerable, NULL },
    { "acceptQueueLength", NULL, accept_queue_length, NULL, NULL, NULL, napi_enumerable, NULL },
    { "closeSocket", NULL, close_socket, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() {
  return init(env, exports);
}
