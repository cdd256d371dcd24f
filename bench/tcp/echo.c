/* Reference TCP echo server on plain libuv: the denominator of the ratios.
 * Usage: echo PORT   (binds 127.0.0.1:PORT, runs until killed)
 *        echo PATH   (a Unix domain socket at PATH, starting with '/': bench/pipe)
 * One shared read buffer; each chunk is written back with uv_try_write, and
 * whatever the socket does not take at once is copied into a uv_write, and
 * reading stops until that write is done (backpressure: at most one pending
 * write per connection, so the memory stays bounded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static char slab[64 * 1024]; /* a read callback is done with it before the next read */

typedef struct { uv_write_t req; char data[]; } pending_write;

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h; (void)suggested;
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_closed(uv_handle_t *h) { free(h); }

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  free(req);
  if (uv_is_closing((uv_handle_t *)s)) return;
  if (status < 0) uv_close((uv_handle_t *)s, on_closed);
  else uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) { /* EOF or error */
    if (!uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, on_closed);
    return;
  }
  if (nread == 0) return;
  uv_buf_t out = uv_buf_init(buf->base, (unsigned)nread);
  int n = uv_try_write(s, &out, 1); /* UV_EAGAIN: the socket buffer is full */
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) { uv_close((uv_handle_t *)s, on_closed); return; }
  if (n == nread) return;
  size_t rest = (size_t)nread - (size_t)n;
  pending_write *w = malloc(sizeof *w + rest);
  if (!w) abort();
  memcpy(w->data, buf->base + n, rest);
  out = uv_buf_init(w->data, (unsigned)rest);
  uv_read_stop(s);
  if (uv_write(&w->req, s, &out, 1, on_written) != 0) {
    free(w);
    uv_close((uv_handle_t *)s, on_closed);
  }
}

static void on_connection(uv_stream_t *server, int status) {
  if (status < 0) return;
  int is_pipe = server->type == UV_NAMED_PIPE;
  uv_stream_t *client = malloc(is_pipe ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
  if (!client) abort();
  if (is_pipe) uv_pipe_init(server->loop, (uv_pipe_t *)client, 0);
  else uv_tcp_init(server->loop, (uv_tcp_t *)client);
  if (uv_accept(server, client) != 0) {
    uv_close((uv_handle_t *)client, on_closed);
    return;
  }
  if (!is_pipe) uv_tcp_nodelay((uv_tcp_t *)client, 1);
  uv_read_start(client, on_alloc, on_read);
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s PORT|PATH\n", argv[0]); return 2; }
  uv_loop_t *loop = uv_default_loop();
  union { uv_tcp_t tcp; uv_pipe_t pipe; } server;
  int err;
  if (argv[1][0] == '/') {
    uv_pipe_init(loop, &server.pipe, 0);
    err = uv_pipe_bind(&server.pipe, argv[1]);
  } else {
    struct sockaddr_in addr;
    uv_tcp_init(loop, &server.tcp);
    uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
    err = uv_tcp_bind(&server.tcp, (const struct sockaddr *)&addr, 0);
  }
  if (!err) err = uv_listen((uv_stream_t *)&server, 1024, on_connection);
  if (err) { fprintf(stderr, "echo: %s: %s\n", argv[1], uv_strerror(err)); return 1; }
  return uv_run(loop, UV_RUN_DEFAULT);
}
