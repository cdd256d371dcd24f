/* Streaming load: one connection to 127.0.0.1:PORT; sends MIB MiB as fast as
 * the socket takes them while reading the echo back on the same thread, and
 * checks every echoed byte. Measures the wall time from the first write to
 * the last echoed byte, and the CPU time of SERVER_PID over that time.
 *
 * Usage: stream PORT SERVER_PID [MIB=1024]
 * Prints: result mode=stream bytes=.. seconds=.. mib_per_s=.. server_cpu_s=..
 *         server_cpu_s_per_gib=.. server_cpu_pct=.. client_cpu_pct=..
 *         server_peak_rss_kib=..   (VmHWM of the server, read at the end) */
#include "client.h"

#define CHUNK (256 * 1024)
#define PERIOD 251 /* byte at stream offset i is i % PERIOD */

int main(int argc, char **argv) {
  prog = "stream";
  if (argc < 3) die("usage: stream PORT SERVER_PID [MIB]");
  int port = (int)arg_long(argc, argv, 1, 0);
  int pid = (int)arg_long(argc, argv, 2, 0);
  long mib = arg_long(argc, argv, 3, 1024);
  if (mib < 1) die("need MIB >= 1");
  uint64_t total = (uint64_t)mib << 20, sent = 0, echoed = 0;

  /* pattern[k] = k % PERIOD, so pattern + off % PERIOD is the stream at off */
  unsigned char *pattern = malloc(CHUNK + PERIOD), *in = malloc(CHUNK);
  if (!pattern || !in) die("out of memory");
  for (int k = 0; k < CHUNK + PERIOD; k++) pattern[k] = (unsigned char)(k % PERIOD);

  int fd = connect_local(port, 0);
  set_nonblocking(fd);
  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  epoll_set(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT, 0);

  double t0 = now_s(), cpu0 = proc_cpu_s(pid), self0 = self_cpu_s();
  while (echoed < total) {
    struct epoll_event ev;
    int n = epoll_wait(ep, &ev, 1, 10000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait: %s", strerror(errno));
    }
    if (n == 0) die("stalled for 10 s: sent %llu, echoed %llu bytes",
                    (unsigned long long)sent, (unsigned long long)echoed);
    if ((ev.events & EPOLLOUT) && sent < total) {
      while (sent < total) {
        size_t len = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
        ssize_t w = write(fd, pattern + sent % PERIOD, len);
        if (w < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          die("write: %s", strerror(errno));
        }
        sent += (uint64_t)w;
      }
      if (sent == total) epoll_set(ep, EPOLL_CTL_MOD, fd, EPOLLIN, 0);
    }
    if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      for (;;) {
        ssize_t r = read(fd, in, CHUNK);
        if (r < 0) {
          if (errno == EAGAIN || errno == EINTR) break;
          die("read: %s", strerror(errno));
        }
        if (r == 0) die("server closed the connection after echoing %llu of %llu bytes",
                        (unsigned long long)echoed, (unsigned long long)total);
        if (echoed + (uint64_t)r > sent) die("server sent more than it was sent");
        if (memcmp(in, pattern + echoed % PERIOD, (size_t)r) != 0)
          die("wrong echo in bytes %llu..%llu", (unsigned long long)echoed,
              (unsigned long long)(echoed + (uint64_t)r));
        echoed += (uint64_t)r;
        if (r < CHUNK) break;
      }
    }
  }
  double t1 = now_s(), cpu1 = proc_cpu_s(pid), self1 = self_cpu_s();
  long peak_kib = proc_status_kib(pid, "VmHWM");
  close(fd);

  double wall = t1 - t0, cpu = cpu1 - cpu0;
  double gib = (double)total / (double)(1u << 30);
  printf("result mode=stream bytes=%llu seconds=%.3f mib_per_s=%.1f server_cpu_s=%.2f "
         "server_cpu_s_per_gib=%.3f server_cpu_pct=%.0f client_cpu_pct=%.0f server_peak_rss_kib=%ld\n",
         (unsigned long long)total, wall, (double)mib / wall, cpu, cpu / gib,
         100 * cpu / wall, 100 * (self1 - self0) / wall, peak_kib);
  return 0;
}
