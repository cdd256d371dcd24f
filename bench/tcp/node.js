// TCP echo server on Node.js `net`. Usage: node node.js PORT
// Like echo.c: each chunk is written back, and reading pauses while the
// socket's write buffer is above its high-water mark (what pipe() does).
'use strict';
const net = require('net');

const port = Number(process.argv[2]);
if (!Number.isInteger(port)) {
  console.error('usage: node node.js PORT');
  process.exit(2);
}

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    if (!socket.write(chunk)) socket.pause();
  });
  socket.on('drain', () => socket.resume());
  // allowHalfOpen is false: Node ends the socket itself after the peer's EOF.
  socket.on('error', () => socket.destroy());
});
server.listen({ host: '127.0.0.1', port, backlog: 1024 });
