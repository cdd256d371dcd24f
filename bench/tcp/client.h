/* What the TCP benchmark clients (pingpong.c, stream.c, idle.c) and the UDP
 * one (../udp/load.c) share.
 * Linux only: plain sockets and epoll, so that the load generator stays
 * cheap and does not depend on the library under test. */
#ifndef BENCH_TCP_CLIENT_H
#define BENCH_TCP_CLIENT_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "client";

static inline void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static inline long arg_long(int argc, char **argv, int i, long dflt) {
  if (i >= argc) return dflt;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*argv[i] == 0 || *end != 0 || v < 0) die("bad argument %d: '%s'", i, argv[i]);
  return v;
}

static inline double arg_double(int argc, char **argv, int i, double dflt) {
  if (i >= argc) return dflt;
  char *end;
  double v = strtod(argv[i], &end);
  if (*argv[i] == 0 || *end != 0 || v < 0) die("bad argument %d: '%s'", i, argv[i]);
  return v;
}

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time (user + system) this process has used, in seconds. */
static inline double self_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline size_t read_proc_file(int pid, const char *name, char *buf, size_t cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("cannot open %s: %s (is the server still running?)", path, strerror(errno));
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n <= 0) die("cannot read %s", path);
  buf[n] = 0;
  return (size_t)n;
}

/* utime + stime of process PID, all its threads, in seconds (/proc/PID/stat,
 * fields 14 and 15, in clock ticks). */
static inline double proc_cpu_s(int pid) {
  char buf[4096];
  read_proc_file(pid, "stat", buf, sizeof buf);
  char *p = strrchr(buf, ')'); /* the command name (field 2) may hold anything */
  unsigned long long utime, stime;
  /* fields 3 (state), 4-8 (ints), 9-13 (unsigned), then 14 utime, 15 stime */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &utime, &stime) != 2)
    die("cannot parse /proc/%d/stat", pid);
  return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* A "Key:  N kB" line of /proc/PID/status (VmRSS, VmHWM), in KiB. */
static inline long proc_status_kib(int pid, const char *key) {
  char buf[8192], pat[32];
  read_proc_file(pid, "status", buf, sizeof buf);
  snprintf(pat, sizeof pat, "\n%s:", key);
  char *p = strstr(buf, pat);
  long kib;
  if (!p || sscanf(p + strlen(pat), "%ld", &kib) != 1) die("no %s in /proc/%d/status", key, pid);
  return kib;
}

static inline void set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl: %s", strerror(errno));
}

/* A TCP socket to 127.0.0.1:port with TCP_NODELAY. With nonblock the connect
 * may still be in progress on return (wait for EPOLLOUT, then check_connected). */
static inline int connect_local(int port, int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && !(nonblock && errno == EINPROGRESS))
    die("connect to 127.0.0.1:%d: %s", port, strerror(errno));
  return fd;
}

/* A blocking Unix domain socket connected to PATH (bench/pipe). */
static inline int connect_unix(const char *path) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) die("socket path too long: %s", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) die("socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect to %s: %s", path, strerror(errno));
  return fd;
}

static inline void check_connected(int fd, int port) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (err) die("connect to 127.0.0.1:%d: %s", port, strerror(err));
}

static inline void epoll_set(int ep, int op, int fd, uint32_t events, uint32_t tag) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u32 = tag;
  if (epoll_ctl(ep, op, fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

/* The measured part of a run: WARMUP seconds unmeasured, then SECONDS
 * measured; the events counted and the CPU time of the server SERVER_PID
 * and of this process over that part. */
typedef struct {
  int pid, measuring;
  double seconds, t_measure, t_end, t0, cpu0, self0;
  uint64_t count0;
  /* results, from measure_end */
  double wall, server_cpu_s, client_cpu_s;
  uint64_t counted;
} measurement;

static inline void measure_begin(measurement *m, int pid, double warmup, double seconds) {
  memset(m, 0, sizeof *m);
  m->pid = pid;
  m->seconds = seconds;
  m->t_measure = now_s() + warmup;
  m->t_end = m->t_measure + seconds;
}

/* Called at each turn with the events so far: starts measuring once the
 * warm-up is over; returns 1 once the measured time is over. */
static inline int measure_turn(measurement *m, uint64_t count) {
  double t = now_s();
  if (!m->measuring && t >= m->t_measure) {
    m->measuring = 1;
    m->count0 = count;
    m->t0 = t;
    m->cpu0 = proc_cpu_s(m->pid);
    m->self0 = self_cpu_s();
    m->t_end = t + m->seconds;
  }
  return m->measuring && t >= m->t_end;
}

/* Milliseconds until the end of the warm-up or of the measured time. */
static inline int measure_wait_ms(const measurement *m) {
  return (int)(((m->measuring ? m->t_end : m->t_measure) - now_s()) * 1000) + 1;
}

/* Ends the measurement with the final count of events. */
static inline void measure_end(measurement *m, uint64_t count) {
  m->wall = now_s() - m->t0;
  m->server_cpu_s = proc_cpu_s(m->pid) - m->cpu0;
  m->client_cpu_s = self_cpu_s() - m->self0;
  m->counted = count - m->count0;
}

#endif
