// Load generator of the benchmarks: HTTP/1.1 GETs from many loopback source addresses, one thread, epoll,
// non-blocking sockets. Only 127.0.0.0/8 is accepted as target and source; every run is bounded in time.
// Options and output: bench/README.md ("Load generator"). Build: cc -O2 -Wall -Wextra -o loadgen loadgen.c
// One file on purpose (about 400 lines): the bench builds it with a bare compiler call, no build system.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { E_REFUSED, E_RESET, E_TIMEOUT, E_STATUS, E_PROTOCOL, E_CLOSED, E_OTHER, E_KINDS };
static const char *const ERROR_NAMES[] = {"refused", "reset", "timeout", "status", "protocol", "closed", "other"};
enum { H_NONE, H_XFF, H_PROXY1, H_PROXY2 };
static const char *const HEADER_NAMES[] = {"none", "xff", "proxy1", "proxy2"};
// Connection states: a response is read as head, then body by Content-Length, chunks, or until close.
enum { S_IDLE, S_SENDING, S_HEAD, S_LENGTH, S_CHUNK_SIZE, S_CHUNK_DATA, S_TRAILER, S_UNTIL_EOF, S_AWAIT_EOF };

#define MAX_WORKERS 64
#define HEAD_MAX 4096
#define OUT_MAX 512

struct conn {
  int fd, state, status, worker, line_len;
  unsigned source;
  long long remaining, deadline;
  size_t out_len, out_off, prefix_len, in_len; // prefix: the PROXY header, sent once per connection
  char out[OUT_MAX], in[HEAD_MAX];
};

static struct {
  int keepalive, header, port, control;
  unsigned concurrency, sources, first_source;
  double seconds, warmup;
  long long timeout_ms, max_requests;
  const char *path, *host;
  struct sockaddr_in target;
} cfg = {.header = H_XFF, .concurrency = 64, .sources = 200, .first_source = 2, .seconds = 2, .timeout_ms = 10000,
           .path = "/", .host = "127.0.0.1"};

struct counts { long long done, errors, at_ms, cpu_us, workers[MAX_WORKERS]; };
static long long done, started, active, errors[E_KINDS], workers[MAX_WORKERS];
static int running = 1, epfd;
static struct conn *conns, **idle;
static unsigned idle_len;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static struct counts snapshot(void) {
  struct counts c = {done, 0, now_ms(), cpu_us(), {0}};
  for (int k = 0; k < E_KINDS; k++) c.errors += errors[k];
  memcpy(c.workers, workers, sizeof workers);
  return c;
}

static void print_workers(const long long *now, const long long *before) {
  printf("\"workers\":{");
  for (int w = 0, first = 1; w < MAX_WORKERS; w++) {
    long long n = now[w] - (before ? before[w] : 0);
    if (n > 0) printf("%s\"%d\":%lld", first ? "" : ",", w, n), first = 0;
  }
  printf("}");
}

static uint32_t source_addr(unsigned index) {
  return htonl(0x7f000000u + cfg.first_source + index % cfg.sources);
}

static int error_kind(int err) {
  if (err == ECONNREFUSED) return E_REFUSED;
  if (err == ECONNRESET || err == EPIPE || err == ECONNABORTED) return E_RESET;
  if (err == ETIMEDOUT) return E_TIMEOUT;
  return E_OTHER;
}

// Ends a connection; a failed one counts an error of `kind`. The slot is reopened by the main loop.
static void finish(struct conn *c, int kind) {
  if (kind >= 0) errors[kind]++;
  close(c->fd);
  c->fd = -1;
  c->state = S_IDLE;
  active--;
  idle[idle_len++] = c;
}

// The request of a new connection, after a PROXY header naming its source when asked; built once per connection.
static void build_request(struct conn *c) {
  char src[INET_ADDRSTRLEN];
  struct sockaddr_in local = {0};
  socklen_t len = sizeof local;
  uint32_t addr = source_addr(c->source);
  size_t n = 0;
  inet_ntop(AF_INET, &addr, src, sizeof src);
  if (cfg.header >= H_PROXY1) getsockname(c->fd, (struct sockaddr *)&local, &len);
  if (cfg.header == H_PROXY1) {
    n = snprintf(c->out, OUT_MAX, "PROXY TCP4 %s %s %u %d\r\n", src, cfg.host, ntohs(local.sin_port), cfg.port);
  } else if (cfg.header == H_PROXY2) {
    static const unsigned char sig[16] = {13, 10, 13, 10, 0, 13, 10, 'Q', 'U', 'I', 'T', 10, 0x21, 0x11, 0, 12};
    uint16_t ports[2] = {local.sin_port, cfg.target.sin_port}; // signature, v2 PROXY, TCP over IPv4, 12 bytes:
    memcpy(c->out, sig, 16);
    memcpy(c->out + 16, &addr, 4);
    memcpy(c->out + 20, &cfg.target.sin_addr, 4);
    memcpy(c->out + 24, ports, 4);
    n = 28;
  }
  c->prefix_len = n;
  n += snprintf(c->out + n, OUT_MAX - n, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s%s\r\n", cfg.path, cfg.host, cfg.port,
                cfg.header == H_XFF ? "X-Forwarded-For: " : "", cfg.header == H_XFF ? src : "",
                cfg.header == H_XFF ? "\r\n" : "", cfg.keepalive ? "" : "Connection: close\r\n");
  c->out_len = n < OUT_MAX ? n : OUT_MAX;
}

static void send_out(struct conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == ENOTCONN)) {
      c->state = S_SENDING; // the rest goes out on EPOLLOUT
      return;
    }
    if (n < 0) { finish(c, error_kind(errno)); return; }
    c->out_off += n;
  }
  c->state = S_HEAD;
  c->in_len = 0;
}

static void begin_request(struct conn *c, int first) {
  c->deadline = now_ms() + cfg.timeout_ms;
  if (first) build_request(c);
  c->out_off = first ? 0 : c->prefix_len;
  send_out(c);
}

static void open_conn(struct conn *c) {
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_addr.s_addr = source_addr(c->source)};
  int one = 1;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) { errors[E_OTHER]++; idle[idle_len++] = c; return; } // out of descriptors: retried
  active++;
  started++;
  // The port is chosen at connect(), per (source, target) pair, so 200 sources give 200 port ranges.
  setsockopt(c->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  if (bind(c->fd, (struct sockaddr *)&local, sizeof local) < 0) { finish(c, error_kind(errno)); return; }
  int rc = connect(c->fd, (struct sockaddr *)&cfg.target, sizeof cfg.target);
  if (rc < 0 && errno != EINPROGRESS) { finish(c, error_kind(errno)); return; }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  begin_request(c, 1); // on loopback the handshake is usually done already; else send_out waits
}

// A complete response: count it, then send the next request (keep-alive) or wait for the server's close.
static void complete(struct conn *c) {
  if (c->status < 200 || c->status > 299) { finish(c, E_STATUS); return; }
  done++;
  if (c->worker >= 0 && c->worker < MAX_WORKERS) workers[c->worker]++;
  if (c->state == S_UNTIL_EOF || (cfg.keepalive && !running)) { finish(c, -1); return; }
  if (cfg.keepalive) { begin_request(c, 0); return; }
  c->state = S_AWAIT_EOF;
}

// Status line and the headers that frame the body; returns 0 on a malformed head.
static int parse_head(struct conn *c, size_t head_len) {
  char *p = c->in, *end = c->in + head_len;
  if (head_len < 12 || strncmp(p, "HTTP/1.", 7) != 0) return 0;
  c->status = atoi(p + 9);
  c->worker = -1;
  c->state = S_UNTIL_EOF;
  c->line_len = 0;
  while ((p = memchr(p, '\n', end - p)) != NULL && ++p < end) {
    char *eol = memchr(p, '\n', end - p);
    size_t len = (eol != NULL ? eol : end) - p;
    if (strncasecmp(p, "content-length:", 15) == 0) {
      c->state = S_LENGTH;
      c->remaining = strtoll(p + 15, NULL, 10);
    } else if (strncasecmp(p, "transfer-encoding:", 18) == 0 && memmem(p, len, "chunked", 7) != NULL) {
      c->state = S_CHUNK_SIZE;
      c->remaining = 0;
    } else if (strncasecmp(p, "x-worker:", 9) == 0) {
      c->worker = atoi(p + 9);
    }
  }
  if (c->status / 100 == 1 || c->status == 204 || c->status == 304) c->state = S_LENGTH, c->remaining = 0;
  return c->remaining >= 0;
}

// Feeds received bytes through the response states; a state change to S_IDLE ends the loop.
static void feed(struct conn *c, const char *p, size_t n) {
  while (n > 0 || c->state == S_LENGTH) {
    if (c->state == S_HEAD) {
      size_t take = n < HEAD_MAX - c->in_len ? n : HEAD_MAX - c->in_len;
      size_t from = c->in_len > 3 ? c->in_len - 3 : 0;
      memcpy(c->in + c->in_len, p, take);
      c->in_len += take;
      char *at = memmem(c->in + from, c->in_len - from, "\r\n\r\n", 4);
      if (at == NULL) {
        if (take < n) finish(c, E_PROTOCOL); // a head larger than HEAD_MAX
        return;
      }
      size_t head_len = at + 4 - c->in, rest = c->in_len - head_len;
      *at = 0;
      if (!parse_head(c, head_len)) { finish(c, E_PROTOCOL); return; }
      p += take - rest, n -= take - rest;
    } else if (c->state == S_LENGTH || c->state == S_CHUNK_DATA) {
      size_t take = (long long)n < c->remaining ? n : (size_t)c->remaining;
      c->remaining -= take, p += take, n -= take;
      if (c->remaining > 0) return;
      if (c->state == S_CHUNK_DATA) {
        c->state = S_CHUNK_SIZE;
        continue;
      }
      complete(c);
      if (n > 0 && c->state != S_IDLE) { finish(c, E_PROTOCOL); return; } // more than one response
      return;
    } else if (c->state == S_CHUNK_SIZE || c->state == S_TRAILER) {
      char ch = *p++;
      n--;
      if (ch != '\n') {
        int lower = ch | 32;
        int digit = (ch >= '0' && ch <= '9') ? ch - '0' : (lower >= 'a' && lower <= 'f') ? lower - 'a' + 10 : -1;
        if (c->state == S_CHUNK_SIZE && c->line_len >= 0 && digit >= 0) c->remaining = c->remaining * 16 + digit;
        else if (c->state == S_CHUNK_SIZE && ch != '\r') c->line_len = -1; // extensions: ignored
        if (ch != '\r' && c->state == S_TRAILER) c->line_len++;
        if (c->remaining > (1LL << 40)) { finish(c, E_PROTOCOL); return; }
        continue;
      }
      if (c->state == S_TRAILER && c->line_len == 0) {
        c->state = S_LENGTH, c->remaining = 0; // the empty line after the last chunk
      } else if (c->state == S_CHUNK_SIZE) {
        c->state = c->remaining == 0 ? S_TRAILER : S_CHUNK_DATA;
        c->remaining += 2; // the CRLF after the data
        if (c->state == S_TRAILER) c->remaining = 0;
      }
      c->line_len = 0;
    } else if (c->state == S_UNTIL_EOF) {
      return;
    } else {
      finish(c, E_PROTOCOL); // bytes while waiting for the close
      return;
    }
  }
}

static void on_event(struct conn *c, uint32_t events) {
  static char buf[65536];
  if (c->state == S_SENDING) { // connecting, or the request did not fit in the socket buffer
    int err = 0;
    socklen_t len = sizeof err;
    if (events & (EPOLLERR | EPOLLHUP)) getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) { finish(c, error_kind(err)); return; }
    if (!(events & EPOLLOUT)) return;
    send_out(c);
    if (c->state != S_HEAD) return;
  }
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno != EAGAIN) finish(c, error_kind(errno));
      return;
    }
    if (n == 0) {
      if (c->state == S_UNTIL_EOF) complete(c);
      else finish(c, c->state == S_AWAIT_EOF ? -1 : E_CLOSED);
      return;
    }
    feed(c, buf, n);
    if (c->state == S_IDLE) return;
    // A short read emptied the socket; an end that came with it shows as EPOLLRDHUP.
    if ((size_t)n < sizeof buf && !(events & (EPOLLRDHUP | EPOLLHUP))) return;
  }
}

// Control on stdin (-C): "s" prints the counters so far as one JSON line, "q" or the end of stdin stops the load.
static void on_control(void) {
  char line[64];
  ssize_t n = read(0, line, sizeof line);
  for (ssize_t i = 0; i < n; i++) {
    if (line[i] == 'q') running = 0;
    if (line[i] != 's') continue;
    struct counts s = snapshot();
    printf("{\"done\":%lld,\"errors\":%lld,\"at_ms\":%lld,\"cpu_us\":%lld,", s.done, s.errors, s.at_ms, s.cpu_us);
    print_workers(s.workers, NULL);
    printf("}\n");
    fflush(stdout);
  }
  if (n <= 0) running = 0, epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
}

static void report(const struct counts *a, const struct counts *b) {
  double wall = (b->at_ms - a->at_ms) / 1e3, cpu = (b->cpu_us - a->cpu_us) / 1e6;
  long long total = 0;
  for (int k = 0; k < E_KINDS; k++) total += errors[k];
  printf("{\"generator\":\"c\",\"mode\":\"%s\",\"header\":\"%s\",\"concurrency\":%u,\"sources\":%u,",
         cfg.keepalive ? "keepalive" : "close", HEADER_NAMES[cfg.header], cfg.concurrency, cfg.sources);
  printf("\"rps\":%.1f,\"done\":%lld,\"done_total\":%lld,\"errors\":%lld,\"error_kinds\":{", wall > 0 ?
         (b->done - a->done) / wall : 0.0, b->done - a->done, done, total);
  for (int k = 0; k < E_KINDS; k++) printf("%s\"%s\":%lld", k ? "," : "", ERROR_NAMES[k], errors[k]);
  printf("},\"wall_seconds\":%.3f,\"cpu_seconds\":%.3f,\"cpu_share\":%.3f,", wall, cpu, wall > 0 ? cpu / wall : 0.0);
  print_workers(b->workers, a->workers);
  printf("}\n");
}

static int usage(const char *why) {
  fprintf(stderr, "loadgen: %s\nusage: loadgen -p PORT -t SECONDS [-m close|keepalive] [-c CONCURRENCY] "
          "[-n SOURCES] [-f FIRST] [-H none|xff|proxy1|proxy2] [-P PATH] [-h HOST] [-w WARMUP] [-T TIMEOUT_MS] "
          "[-N MAX_CONNECTIONS] [-C]\n", why);
  return 2;
}

static int parse_args(int argc, char **argv) {
  int opt;
  while ((opt = getopt(argc, argv, "p:t:m:c:n:f:H:P:h:w:T:N:C")) != -1) {
    if (opt == 'p') cfg.port = atoi(optarg);
    else if (opt == 't') cfg.seconds = atof(optarg);
    else if (opt == 'm' && strcmp(optarg, "close") && strcmp(optarg, "keepalive")) return usage("bad mode");
    else if (opt == 'm') cfg.keepalive = strcmp(optarg, "keepalive") == 0;
    else if (opt == 'c') cfg.concurrency = strtoul(optarg, NULL, 10);
    else if (opt == 'n') cfg.sources = strtoul(optarg, NULL, 10);
    else if (opt == 'f') cfg.first_source = strtoul(optarg, NULL, 10);
    else if (opt == 'P') cfg.path = optarg;
    else if (opt == 'h') cfg.host = optarg;
    else if (opt == 'w') cfg.warmup = atof(optarg);
    else if (opt == 'T') cfg.timeout_ms = atoll(optarg);
    else if (opt == 'N') cfg.max_requests = atoll(optarg);
    else if (opt == 'C') cfg.control = 1;
    else if (opt == 'H') {
      cfg.header = -1;
      for (int h = H_NONE; h <= H_PROXY2; h++) if (strcmp(optarg, HEADER_NAMES[h]) == 0) cfg.header = h;
      if (cfg.header < 0) return usage("bad header variant");
    } else return usage("unknown option");
  }
  cfg.target.sin_family = AF_INET;
  cfg.target.sin_port = htons(cfg.port);
  if (inet_pton(AF_INET, cfg.host, &cfg.target.sin_addr) != 1 || (ntohl(cfg.target.sin_addr.s_addr) >> 24) != 127) {
    return usage("the target must be an IPv4 loopback address (127.0.0.0/8)");
  }
  if (cfg.port <= 0 || cfg.port > 65535) return usage("-p PORT is required");
  if (!(cfg.seconds > 0 && cfg.seconds <= 3600) || cfg.warmup < 0) return usage("-t SECONDS must be in (0, 3600]");
  if (cfg.concurrency < 1 || cfg.concurrency > 100000) return usage("-c must be 1 … 100000");
  if (cfg.sources < 1 || cfg.first_source < 1 || cfg.first_source + cfg.sources > 0xffffff) return usage("bad sources");
  if (strlen(cfg.path) > 200 || cfg.path[0] != '/') return usage("-P PATH must start with / (at most 200 bytes)");
  return 0;
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) != 0) return 2;
  struct rlimit fds;
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0) fds.rlim_cur = fds.rlim_max, setrlimit(RLIMIT_NOFILE, &fds); // storms
  epfd = epoll_create1(EPOLL_CLOEXEC);
  conns = calloc(cfg.concurrency, sizeof *conns);
  idle = calloc(cfg.concurrency, sizeof *idle);
  if (epfd < 0 || conns == NULL || idle == NULL) return perror("loadgen"), 1;
  for (unsigned i = cfg.concurrency; i-- > 0;) {
    conns[i] = (struct conn){.fd = -1, .source = i % cfg.sources};
    idle[idle_len++] = &conns[i];
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, events[256];
  if (cfg.control) epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &ev);
  long long start = now_ms(), next_scan = start + 100, next_source = 0, stopped_at = 0;
  long long warm_at = start + (long long)(cfg.warmup * 1000), end_at = warm_at + (long long)(cfg.seconds * 1000);
  struct counts first = snapshot(), last = first;
  int warmed = cfg.warmup <= 0, window_open = 1;
  for (;;) {
    long long now = now_ms();
    if (!warmed && now >= warm_at) first = snapshot(), warmed = 1;
    if (running && (now >= end_at || (cfg.max_requests > 0 && started >= cfg.max_requests))) running = 0;
    // The window ends when the load stops; with -N it lasts until the last connection is answered.
    if (!running && stopped_at == 0) {
      stopped_at = now;
      if (cfg.max_requests == 0) last = snapshot(), window_open = 0;
    }
    if (!running && (active == 0 || now >= stopped_at + cfg.timeout_ms)) break; // the drain is bounded too
    // Close mode: each new connection takes the next source in turn; keep-alive keeps its slot's source.
    for (unsigned k = idle_len; running && k > 0 && (cfg.max_requests == 0 || started < cfg.max_requests); k--) {
      struct conn *c = idle[--idle_len];
      if (!cfg.keepalive) c->source = next_source++ % cfg.sources;
      open_conn(c);
    }
    int n = epoll_wait(epfd, events, 256, running && idle_len > 0 ? 0 : 20);
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (c == NULL) on_control();
      else if (c->state != S_IDLE) on_event(c, events[i].events);
    }
    if ((now = now_ms()) < next_scan) continue;
    next_scan = now + 100;
    for (unsigned i = 0; i < cfg.concurrency; i++) {
      if (conns[i].state != S_IDLE && conns[i].deadline < now) finish(&conns[i], E_TIMEOUT);
    }
  }
  if (window_open) last = snapshot();
  for (unsigned i = 0; i < cfg.concurrency; i++) if (conns[i].state != S_IDLE) finish(&conns[i], E_TIMEOUT);
  report(&first, &last);
  return 0;
}
