/* The client of the file-stream benchmark: connects to 127.0.0.1:PORT,
 * reads until the server closes, and reports the bytes, the wall time from
 * the connect to the end, and the server's peak RSS (VmHWM, read at the end).
 *
 * Usage: sink PORT SERVER_PID
 * Prints: result bytes=.. seconds=.. mib_per_s=.. server_start_rss_kib=..
 *         server_peak_rss_kib=.. */
#include "../tcp/client.h"

int main(int argc, char **argv) {
  prog = "sink";
  if (argc < 3) die("usage: sink PORT SERVER_PID");
  int port = (int)arg_long(argc, argv, 1, 0);
  int pid = (int)arg_long(argc, argv, 2, 0);
  static unsigned char in[256 * 1024];
  long start_rss = proc_status_kib(pid, "VmRSS");
  double t0 = now_s();
  int fd = connect_local(port, 0);
  uint64_t bytes = 0;
  for (;;) {
    ssize_t n = read(fd, in, sizeof in);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read: %s", strerror(errno));
    if (n == 0) break;
    bytes += (uint64_t)n;
  }
  double seconds = now_s() - t0;
  long peak = proc_status_kib(pid, "VmHWM");
  printf("result bytes=%llu seconds=%.3f mib_per_s=%.0f server_start_rss_kib=%ld server_peak_rss_kib=%ld\n",
         (unsigned long long)bytes, seconds, (double)bytes / 1048576.0 / seconds, start_rss, peak);
  return 0;
}
