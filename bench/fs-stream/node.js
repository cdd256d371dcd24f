// File-to-socket server on Node.js: each client gets FILE piped to it
// (fs.createReadStream(FILE).pipe(socket)), then the connection ends.
// Usage: node node.js FILE   (prints "port=N" once listening)
'use strict';
const fs = require('fs');
const net = require('net');

const path = process.argv[2];
const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  fs.createReadStream(path).pipe(socket);
});
server.listen({ host: '127.0.0.1', port: 0 }, () => {
  console.log(`port=${server.address().port}`);
});
