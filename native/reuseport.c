// Listening sockets for the kernel data plane: a reuseport group whose member is chosen per
// connection by a classic BPF program (SO_ATTACH_REUSEPORT_CBPF). Node can create neither a
// listening socket it does not also listen() on in this process, nor attach such a program.
//
// Also the passing of open connections between two workers (a slot's retiring worker and its
// successor): an unnamed socket pair, sendmsg/recvmsg with SCM_RIGHTS, and a libuv poll on Node's own
// loop to learn when the pair is readable or writable again.
//
// Only plain POSIX/Linux calls that exist in every glibc since 2.17 are used, so one build serves
// every Linux of its architecture; Node-API (and libuv, whose 1.x ABI is stable) keeps one build
// valid for every Node version >= 20.

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
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#ifndef SO_REUSEPORT
#define SO_REUSEPORT 15
#endif
#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

#define MAX_ARGS 4
#define MAX_INSTRUCTIONS 4096
// The most descriptors one message may carry (the kernel's SCM_MAX_FD).
#define MAX_FDS 253

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

// socketPair(isSeqPacket) -> [fd, fd]: a connected pair of close-on-exec Unix sockets with no name: stream
// sockets, or with isSeqPacket true sequenced-packet ones (each message read whole, by one reader).
static napi_value socket_pair(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  bool is_seqpacket = false;
  if (!get_args(env, info, 0, argv)) return throw_type(env, "socketPair(isSeqPacket)");
  napi_valuetype type;
  if (napi_typeof(env, argv[0], &type) == napi_ok && type == napi_boolean &&
      napi_get_value_bool(env, argv[0], &is_seqpacket) != napi_ok) return throw_type(env, "socketPair(isSeqPacket)");
  int fds[2];
  int kind = is_seqpacket ? SOCK_SEQPACKET : SOCK_STREAM;
  if (socketpair(AF_UNIX, kind | SOCK_CLOEXEC, 0, fds) != 0) return throw_errno(env, errno, "socketpair");
  napi_value result, value;
  napi_create_array_with_length(env, 2, &result);
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &value);
    napi_set_element(env, result, i, value);
  }
  return result;
}

static int get_bytes(napi_env env, napi_value value, void **data, size_t *length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) == napi_ok && type == napi_uint8_array;
}

// A message of `length` bytes at `data` with room for MAX_FDS descriptors, for sendmsg or recvmsg.
typedef struct {
  struct iovec iov;
  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)]; } control;
  struct msghdr msg;
} fd_message_t;

static void init_fd_message(fd_message_t *m, void *data, size_t length) {
  memset(m, 0, sizeof *m);
  m->iov.iov_base = data;
  m->iov.iov_len = length;
  m->msg.msg_iov = &m->iov;
  m->msg.msg_iovlen = 1;
  m->msg.msg_control = m->control.buf;
  m->msg.msg_controllen = sizeof m->control.buf;
}

// sendFds(fd, bytes, fds) -> how many of the bytes the socket took (the descriptors travel with the
// first of them: the receiver's copies), or -1 when its buffer is full and nothing was sent. Never
// blocks; a closed peer is EPIPE (no SIGPIPE).
static napi_value send_fds(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result;
  int32_t fd;
  void *data, *fd_data;
  size_t length, count;
  napi_typedarray_type type;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &length) ||
      length == 0 || napi_get_typedarray_info(env, argv[2], &type, &count, &fd_data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || count > MAX_FDS) return throw_type(env, "sendFds(fd, bytes, fds)");
  fd_message_t m;
  init_fd_message(&m, data, length);
  if (count > 0) {
    m.msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m.msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
    memcpy(CMSG_DATA(cmsg), fd_data, sizeof(int) * count);
  } else {
    m.msg.msg_control = NULL;
    m.msg.msg_controllen = 0;
  }
  ssize_t sent;
  do sent = sendmsg(fd, &m.msg, MSG_DONTWAIT | MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return throw_errno(env, errno, "sendmsg");
  napi_create_int32(env, sent < 0 ? -1 : (int32_t) sent, &result);
  return result;
}

// Whether a received descriptor is what the caller takes: a TCP connection (an IPv4 or IPv6 stream
// socket), or with is_packet_pair a Unix sequenced-packet socket.
static int is_wanted(int fd, bool is_packet_pair) {
  int domain = 0, type = 0;
  socklen_t len = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) return 0;
  if (is_packet_pair ? domain != AF_UNIX : (domain != AF_INET && domain != AF_INET6)) return 0;
  len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == (is_packet_pair ? SOCK_SEQPACKET : SOCK_STREAM);
}

// recvFds(fd, buffer, isPacketPair) -> [bytes read into buffer (0: the peer closed), Int32Array of the
// descriptors that came with them (close-on-exec)], or null when nothing waits. Only TCP connections
// are taken (with isPacketPair true: only Unix sequenced-packet sockets): any other descriptor is
// closed at once and reported as -1. A message whose descriptors did not all fit (the kernel closed
// the rest), or a packet larger than the buffer, throws EMSGSIZE after closing those that came.
static napi_value recv_fds(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result, value, buffer;
  int32_t fd;
  void *data, *out;
  size_t length;
  bool is_packet_pair = false;
  napi_valuetype kind;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], &fd) || !get_bytes(env, argv[1], &data, &length) ||
      length == 0 || napi_typeof(env, argv[2], &kind) != napi_ok ||
      (kind == napi_boolean && napi_get_value_bool(env, argv[2], &is_packet_pair) != napi_ok)) {
    return throw_type(env, "recvFds(fd, buffer, isPacketPair)");
  }
  fd_message_t m;
  init_fd_message(&m, data, length);
  ssize_t got;
  do got = recvmsg(fd, &m.msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); while (got < 0 && errno == EINTR);
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    napi_get_null(env, &result);
    return result;
  }
  if (got < 0) return throw_errno(env, errno, "recvmsg");
  int fds[MAX_FDS];
  size_t count = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m.msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&m.msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
      if (count >= MAX_FDS) {
        close(received);
        continue;
      }
      if (!is_wanted(received, is_packet_pair)) {
        close(received);
        received = -1;
      }
      fds[count++] = received;
    }
  }
  if (m.msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) {
    for (size_t i = 0; i < count; i++) if (fds[i] >= 0) close(fds[i]);
    return throw_errno(env, EMSGSIZE, "recvmsg");
  }
  napi_create_arraybuffer(env, count * sizeof(int), &out, &buffer);
  if (count > 0) memcpy(out, fds, count * sizeof(int));
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, (int32_t) got, &value);
  napi_set_element(env, result, 0, value);
  napi_create_typedarray(env, napi_int32_array, count, buffer, 0, &value);
  napi_set_element(env, result, 1, value);
  return result;
}

// A poll of one descriptor on Node's loop. It does not keep the process alive. Freed once both
// libuv closed it and JavaScript dropped it.
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int is_stopped;
  int is_closed;
  int is_finalized;
} watch_t;

static void on_watch_closed(uv_handle_t *handle) {
  watch_t *watch = (watch_t *) handle;
  watch->is_closed = 1;
  if (watch->is_finalized) free(watch);
}

static void stop_watch(watch_t *watch) {
  if (watch->is_stopped) return;
  watch->is_stopped = 1;
  uv_poll_stop(&watch->poll);
  napi_delete_reference(watch->env, watch->callback);
  napi_async_destroy(watch->env, watch->context);
  uv_close((uv_handle_t *) &watch->poll, on_watch_closed);
}

static void on_watch_finalized(napi_env env, void *data, void *hint) {
  (void) env;
  (void) hint;
  watch_t *watch = data;
  watch->is_finalized = 1;
  if (!watch->is_stopped) stop_watch(watch);
  else if (watch->is_closed) free(watch);
}

// The callback gets libuv's status: 0, or a negative errno (the descriptor failed).
static void on_watch_ready(uv_poll_t *poll, int status, int events) {
  (void) events;
  watch_t *watch = (watch_t *) poll;
  napi_env env = watch->env;
  napi_handle_scope scope;
  if (watch->is_stopped || napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argument, ignored, error;
  napi_get_reference_value(env, watch->callback, &callback);
  napi_get_global(env, &receiver);
  napi_create_int32(env, status, &argument);
  if (napi_make_callback(env, watch->context, receiver, callback, 1, &argument, &ignored) == napi_pending_exception &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  napi_close_handle_scope(env, scope);
}

// watchFd(fd, writable, callback) -> a watch: callback(status) each time the descriptor is readable
// (or, with writable, writable), until unwatchFd(watch). The descriptor must not be closed before.
static napi_value watch_fd(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS], result, name;
  int32_t fd;
  bool writable;
  napi_valuetype type;
  uv_loop_t *loop;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], &fd) ||
      napi_get_value_bool(env, argv[1], &writable) != napi_ok || napi_typeof(env, argv[2], &type) != napi_ok ||
      type != napi_function) return throw_type(env, "watchFd(fd, writable, callback)");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, EINVAL, "uv_default_loop");
  watch_t *watch = calloc(1, sizeof *watch);
  if (watch == NULL) return throw_errno(env, ENOMEM, "calloc");
  int err = uv_poll_init(loop, &watch->poll, fd);
  if (err != 0) {
    free(watch);
    return throw_errno(env, -err, "uv_poll_init");
  }
  watch->env = env;
  napi_create_reference(env, argv[2], 1, &watch->callback);
  napi_create_string_utf8(env, "sticky-runtime:fdwatch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &watch->context);
  uv_unref((uv_handle_t *) &watch->poll);
  err = uv_poll_start(&watch->poll, writable ? UV_WRITABLE : UV_READABLE, on_watch_ready);
  if (err != 0) {
    stop_watch(watch);
    watch->is_finalized = 1;
    return throw_errno(env, -err, "uv_poll_start");
  }
  if (napi_create_external(env, watch, on_watch_finalized, NULL, &result) != napi_ok) {
    stop_watch(watch);
    watch->is_finalized = 1;
    return NULL;
  }
  return result;
}

// unwatchFd(watch): no more callbacks; the descriptor may be closed from now on.
static napi_value unwatch_fd(napi_env env, napi_callback_info info) {
  napi_value argv[MAX_ARGS];
  void *data;
  napi_valuetype type;
  if (!get_args(env, info, 1, argv) || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, argv[0], &data) != napi_ok) return throw_type(env, "unwatchFd(watch)");
  stop_watch(data);
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
    { "socketPair", NULL, socket_pair, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sendFds", NULL, send_fds, NULL, NULL, NULL, napi_enumerable, NULL },
    { "recvFds", NULL, recv_fds, NULL, NULL, NULL, napi_enumerable, NULL },
    { "watchFd", NULL, watch_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "unwatchFd", NULL, unwatch_fd, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() {
  return init(env, exports);
}
