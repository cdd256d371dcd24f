/* Idle connections: how much resident memory the server SERVER_PID needs per
 * open connection. Each connection sends one 16-byte message and waits for
 * its echo (so the server has surely accepted it and read from it), then
 * stays open and silent. At most INFLIGHT connections are between connect()
 * and their echo at any time, so the listen backlog never overflows.
 *
 * First WARM connections are opened (the server's first connection loads
 * code and grows tables once), then after SETTLE seconds the server's VmRSS
 * is read, CONNS more connections are opened, and after another SETTLE
 * seconds VmRSS is read again. All are closed at the end.
 *
 * Usage: idle PORT SERVER_PID [CONNS=10000] [SETTLE=1] [WARM=100]
 * Prints: result mode=idle conns=.. rss_before_kib=.. rss_after_kib=..
 *         bytes_per_conn=.. open_seconds=.. */
#include "client.h"

#define MSG 16
#define INFLIGHT 64

enum { CONNECTING, ECHOING, IDLE };

static int port, ep, *fds;
static unsigned char *state, *got;

static void message_for(uint32_t i, unsigned char out[MSG]) {
  for (int k = 0; k < MSG; k++) out[k] = (unsigned char)(i >> (8 * (k % 4))) ^ (unsigned char)k;
}

/* Opens connections first..last-1 and returns when every one has its echo. */
static void open_connections(uint32_t first, uint32_t last) {
  uint32_t next = first, done = 0, inflight = 0;
  unsigned char msg[MSG], in[MSG];
  struct epoll_event evs[256];
  while (done < last - first) {
    while (inflight < INFLIGHT && next < last) {
      fds[next] = connect_local(port, 1);
      state[next] = CONNECTING;
      got[next] = 0;
      epoll_set(ep, EPOLL_CTL_ADD, fds[next], EPOLLOUT, next);
      next++;
      inflight++;
    }
    int n = epoll_wait(ep, evs, 256, 20000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    if (n == 0) die("stalled for 20 s with %u of %u connections echoed", first + done, last);
    for (int e = 0; e < n; e++) {
      uint32_t i = evs[e].data.u32;
      int fd = fds[i];
      if (state[i] == CONNECTING) {
        check_connected(fd, port);
        message_for(i, msg);
        ssize_t w = write(fd, msg, MSG);
        if (w != MSG) die("write: %s", w < 0 ? strerror(errno) : "short write");
        state[i] = ECHOING;
        epoll_set(ep, EPOLL_CTL_MOD, fd, EPOLLIN, i);
        continue;
      }
      ssize_t r = read(fd, in, (size_t)(MSG - got[i]));
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read on connection %u: %s", i, strerror(errno));
      }
      if (r == 0) die("server closed connection %u", i);
      message_for(i, msg);
      if (memcmp(in, msg + got[i], (size_t)r) != 0) die("wrong echo on connection %u", i);
      got[i] = (unsigned char)(got[i] + r);
      if (got[i] < MSG) continue;
      state[i] = IDLE;
      epoll_set(ep, EPOLL_CTL_DEL, fd, 0, i);
      inflight--;
      done++;
    }
  }
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

int main(int argc, char **argv) {
  prog = "idle";
  if (argc < 3) die("usage: idle PORT SERVER_PID [CONNS] [SETTLE] [WARM]");
  port = (int)arg_long(argc, argv, 1, 0);
  int pid = (int)arg_long(argc, argv, 2, 0);
  uint32_t nconns = (uint32_t)arg_long(argc, argv, 3, 10000);
  double settle = arg_double(argc, argv, 4, 1.0);
  uint32_t warm = (uint32_t)arg_long(argc, argv, 5, 100);
  if (nconns < 1) die("need CONNS >= 1");
  uint32_t total = warm + nconns;

  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < (rlim_t)total + 16)
    die("open file limit %llu is too low for %u connections (raise ulimit -n)",
        (unsigned long long)rl.rlim_cur, total);

  fds = malloc(total * sizeof *fds);
  state = malloc(total);
  got = malloc(total);
  if (!fds || !state || !got) die("out of memory");
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));

  open_connections(0, warm);
  sleep_s(settle);
  long before = proc_status_kib(pid, "VmRSS");
  double t0 = now_s();
  open_connections(warm, total);
  double opened = now_s() - t0;
  sleep_s(settle);
  long after = proc_status_kib(pid, "VmRSS");
  for (uint32_t i = 0; i < total; i++) close(fds[i]);

  printf("result mode=idle conns=%u rss_before_kib=%ld rss_after_kib=%ld bytes_per_conn=%.0f "
         "open_seconds=%.3f\n",
         nconns, before, after, (double)(after - before) * 1024.0 / nconns, opened);
  return 0;
}
