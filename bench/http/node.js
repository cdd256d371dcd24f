// HTTP server for bench/http/run, Node's http module: the same answers
// as async.lua for each HTTP_CASE (hello, json, post); runs until killed.
//   hello  'Hello, World!' as text/plain
//   json   JSON.stringify of the object of HTTP_PAYLOAD, parsed once here
//   post   the request body read whole, JSON.parse, JSON.stringify back
const http = require('http');
const fs = require('fs');
const port = Number(process.env.PORT || 8080);
const kase = process.env.HTTP_CASE || 'hello';

let handler;
if (kase === 'hello') {
  handler = (req, res) => {
    res.writeHead(200, {'Content-Type': 'text/plain'});
    res.end('Hello, World!');
  };
} else if (kase === 'json') {
  const obj = JSON.parse(fs.readFileSync(process.env.HTTP_PAYLOAD, 'utf8'));
  handler = (req, res) => {
    res.writeHead(200, {'Content-Type': 'application/json'});
    res.end(JSON.stringify(obj));
  };
} else if (kase === 'post') {
  handler = (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      let value;
      try {
        value = JSON.parse(body);
      } catch (e) {
        res.writeHead(400, {'Content-Type': 'text/plain'});
        res.end('not JSON');
        return;
      }
      res.writeHead(200, {'Content-Type': 'application/json'});
      res.end(JSON.stringify(value));
    });
  };
} else {
  throw new Error('unknown HTTP_CASE ' + kase);
}

http.createServer(handler).listen(port, '127.0.0.1');
