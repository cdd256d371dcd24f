/* UDP echo load: SOCKETS UDP sockets on 127.0.0.1, each connected to the
 * echo server at 127.0.0.1:PORT with WINDOW 64-byte datagrams in flight:
 * every echo that comes back (checked) sends the next datagram. After
 * WARMUP seconds it measures for SECONDS: echoes, and the CPU time of the
 * server process SERVER_PID (/proc/PID/stat). UDP may drop datagrams: when
 * no echo comes for 100 ms, each socket sends a fresh window (a "stall",
 * counted; on loopback with these windows there should be none).
 *
 * Usage: load PORT SERVER_PID [SOCKETS=16] [WINDOW=4] [SECONDS=4] [WARMUP=1]
 * Prints: result mode=echo sockets=.. window=.. seconds=.. echoes=..
 *         dg_per_s=.. server_cpu_s=.. us_per_dg=.. server_cpu_pct=..
 *         client_cpu_pct=.. stalls=.. */
#include "../tcp/client.h"

#define MSG 64

static void send_datagram(int fd, const unsigned char *out) {
  ssize_t w = send(fd, out, MSG, 0);
  /* a full socket buffer or a refused port drops it: the stall path resends */
  if (w < 0 && errno != EAGAIN && errno != ECONNREFUSED && errno != ENOBUFS) die("send: %s", strerror(errno));
}

int main(int argc, char **argv) {
  prog = "udp load";
  if (argc < 3) die("usage: load PORT SERVER_PID [SOCKETS] [WINDOW] [SECONDS] [WARMUP]");
  int port = (int)arg_long(argc, argv, 1, 0);
  int pid = (int)arg_long(argc, argv, 2, 0);
  int nsocks = (int)arg_long(argc, argv, 3, 16);
  int window = (int)arg_long(argc, argv, 4, 4);
  double seconds = arg_double(argc, argv, 5, 4.0);
  double warmup = arg_double(argc, argv, 6, 1.0);
  if (nsocks < 1 || window < 1 || seconds <= 0) die("need SOCKETS >= 1, WINDOW >= 1 and SECONDS > 0");

  int *fds = calloc((size_t)nsocks, sizeof *fds);
  unsigned char(*out)[MSG] = calloc((size_t)nsocks, MSG);
  if (!fds || !out) die("out of memory");
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < nsocks; i++) {
    fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fds[i] < 0) die("socket: %s", strerror(errno));
    if (connect(fds[i], (struct sockaddr *)&sa, sizeof sa) < 0) die("connect: %s", strerror(errno));
    for (int k = 0; k < MSG; k++) out[i][k] = (unsigned char)('a' + (i + k) % 26);
    epoll_set(ep, EPOLL_CTL_ADD, fds[i], EPOLLIN, (uint32_t)i);
  }
  for (int i = 0; i < nsocks; i++)
    for (int w = 0; w < window; w++) send_datagram(fds[i], out[i]);

  uint64_t count = 0, stalls = 0;
  double last_echo = now_s();
  measurement m;
  measure_begin(&m, pid, warmup, seconds);
  struct epoll_event evs[256];
  unsigned char in[MSG + 1];
  while (!measure_turn(&m, count)) {
    if (now_s() - last_echo > 10) die("no echo for 10 s");
    int n = epoll_wait(ep, evs, 256, 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    if (n == 0) {
      stalls++;
      for (int i = 0; i < nsocks; i++)
        for (int w = 0; w < window; w++) send_datagram(fds[i], out[i]);
      continue;
    }
    for (int e = 0; e < n; e++) {
      uint32_t i = evs[e].data.u32;
      for (;;) {
        ssize_t r = recv(fds[i], in, sizeof in, 0);
        if (r < 0) {
          if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED) break;
          die("recv on socket %u: %s", i, strerror(errno));
        }
        if (r != MSG || memcmp(in, out[i], MSG) != 0) die("wrong echo on socket %u", i);
        count++;
        last_echo = now_s();
        send_datagram(fds[i], out[i]);
      }
    }
  }
  measure_end(&m, count);
  for (int i = 0; i < nsocks; i++) close(fds[i]);

  double wall = m.wall, cpu = m.server_cpu_s;
  if (m.counted == 0) die("no echo in %.1f s (%llu stalls, %llu echoes in all)", wall, (unsigned long long)stalls, (unsigned long long)count);
  printf("result mode=echo sockets=%d window=%d seconds=%.3f echoes=%llu dg_per_s=%.0f "
         "server_cpu_s=%.2f us_per_dg=%.3f server_cpu_pct=%.0f client_cpu_pct=%.0f stalls=%llu\n",
         nsocks, window, wall, (unsigned long long)m.counted, (double)m.counted / wall, cpu,
         cpu * 1e6 / (double)m.counted, 100 * cpu / wall, 100 * m.client_cpu_s / wall,
         (unsigned long long)stalls);
  return 0;
}
