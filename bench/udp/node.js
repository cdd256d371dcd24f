// UDP echo server on Node.js (dgram): sends each datagram back to its
// sender. Binds 127.0.0.1 on a port the OS picks and prints "port N".
'use strict';
const dgram = require('dgram');

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(0, '127.0.0.1', () => {
  process.stdout.write(`port ${sock.address().port}\n`);
});
