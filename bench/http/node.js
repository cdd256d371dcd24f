// Hello-world HTTP server for bench/http/run, Node's http module: the
// same 13-byte text/plain answer as async.lua; runs until killed.
const http = require('http');
const port = Number(process.env.PORT || 8080);
http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/plain'});
  res.end('Hello, World!');
}).listen(port, '127.0.0.1');
