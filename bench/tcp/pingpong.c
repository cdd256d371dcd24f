/* Ping-pong load: CONNS connections to 127.0.0.1:PORT (or to the Unix domain
 * socket at PORT when it is a path starting with '/'), each with exactly one
 * 64-byte message in flight (send, wait for the whole 64-byte echo, check it,
 * send the next). After WARMUP seconds it measures for SECONDS: round trips,
 * and the CPU time of the server process SERVER_PID (/proc/PID/stat).
 *
 * Usage: pingpong PORT SERVER_PID [CONNS=100] [SECONDS=4] [WARMUP=1]
 * Prints: result mode=pingpong conns=.. seconds=.. round_trips=.. rt_per_s=..
 *         server_cpu_s=.. us_per_rt=.. server_cpu_pct=.. client_cpu_pct=.. */
#include "client.h"

#define MSG 64

typedef struct {
  int fd;
  int got;      /* bytes of the echo received so far */
  uint64_t seq; /* messages sent on this connection */
  unsigned char out[MSG], in[MSG];
} conn;

static void next_message(conn *c, uint32_t id) {
  c->seq++;
  memcpy(c->out, &id, sizeof id);
  memcpy(c->out + sizeof id, &c->seq, sizeof c->seq);
  /* the rest stays as filled at start */
}

static void send_message(conn *c) {
  /* one message in flight: the socket buffer always has room for 64 bytes */
  ssize_t w = write(c->fd, c->out, MSG);
  if (w != MSG) die("write: %s", w < 0 ? strerror(errno) : "short write");
}

int main(int argc, char **argv) {
  prog = "pingpong";
  if (argc < 3) die("usage: pingpong PORT SERVER_PID [CONNS] [SECONDS] [WARMUP]");
  const char *unix_path = argv[1][0] == '/' ? argv[1] : NULL;
  int port = unix_path ? 0 : (int)arg_long(argc, argv, 1, 0);
  int pid = (int)arg_long(argc, argv, 2, 0);
  int nconns = (int)arg_long(argc, argv, 3, 100);
  double seconds = arg_double(argc, argv, 4, 4.0);
  double warmup = arg_double(argc, argv, 5, 1.0);
  if (nconns < 1 || seconds <= 0) die("need CONNS >= 1 and SECONDS > 0");

  conn *conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns) die("out of memory");
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  for (int i = 0; i < nconns; i++) {
    conn *c = &conns[i];
    /* blocking: done when the kernel has queued it */
    c->fd = unix_path ? connect_unix(unix_path) : connect_local(port, 0);
    set_nonblocking(c->fd);
    for (int k = 0; k < MSG; k++) c->out[k] = (unsigned char)('a' + (i + k) % 26);
    epoll_set(ep, EPOLL_CTL_ADD, c->fd, EPOLLIN, (uint32_t)i);
  }
  for (int i = 0; i < nconns; i++) {
    next_message(&conns[i], (uint32_t)i);
    send_message(&conns[i]);
  }

  uint64_t count = 0;
  measurement m;
  measure_begin(&m, pid, warmup, seconds);
  struct epoll_event evs[256];
  while (!measure_turn(&m, count)) {
    double t = now_s();
    int n = epoll_wait(ep, evs, 256, measure_wait_ms(&m));
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    if (n == 0 && now_s() - t > 10) die("no echo for 10 s");
    for (int e = 0; e < n; e++) {
      uint32_t i = evs[e].data.u32;
      conn *c = &conns[i];
      ssize_t r = read(c->fd, c->in + c->got, (size_t)(MSG - c->got));
      if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        die("read on connection %u: %s", i, strerror(errno));
      }
      if (r == 0) die("server closed connection %u", i);
      c->got += (int)r;
      if (c->got < MSG) continue;
      if (memcmp(c->in, c->out, MSG) != 0) die("wrong echo on connection %u", i);
      c->got = 0;
      count++;
      next_message(c, i);
      send_message(c);
    }
  }
  measure_end(&m, count);
  for (int i = 0; i < nconns; i++) close(conns[i].fd);

  double wall = m.wall, cpu = m.server_cpu_s;
  uint64_t rts = m.counted;
  if (rts == 0) die("no round trips completed in %.1f s", wall);
  printf("result mode=pingpong conns=%d seconds=%.3f round_trips=%llu rt_per_s=%.0f "
         "server_cpu_s=%.2f us_per_rt=%.3f server_cpu_pct=%.0f client_cpu_pct=%.0f\n",
         nconns, wall, (unsigned long long)rts, (double)rts / wall, cpu, cpu * 1e6 / (double)rts,
         100 * cpu / wall, 100 * m.client_cpu_s / wall);
  return 0;
}
