// TCP echo server on Node.js `net`. Usage: node node.js PORT
// (or PATH, a Unix domain socket to listen at, for bench/pipe).
// Like echo.c: each chunk is written back, and reading pauses while the
// socket's write buffer is above its high-water mark (what pipe() does).
'use strict';
const net = require('net');

const where = process.argv[2] || '';
const port = /^[0-9]+$/.test(where) ? Number(where) : NaN;
if (!Number.isInteger(port) && !where.startsWith('/')) {
  console.error('usage: node node.js PORT|PATH');
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true); // a no-op on a Unix domain socket
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  // allowHalfOpen is false: Node ends the socket itself after the peer's EOF.
  socket.on('error', () => socket.destroy());
});
server.listen(Number.isInteger(port) ? { host: '127.0.0.1', port, backlog: 1024 } : { path: where, backlog: 1024 });
