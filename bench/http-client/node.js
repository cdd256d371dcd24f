// HTTP client for bench/http-client/run, Node's http module: REQUESTS
// (100000) GETs of http://127.0.0.1:PORT/ with http.request and an
// `http.Agent({keepAlive: true, maxSockets: 32})`, IN_FLIGHT (32) at a
// time (each answer starts the next), each body read whole as a string.
// Every answer must be 200 'Hello, World!'. Prints
// `result impl=node ms=WALL cpu_ms=CPU count=OK`: wall and CPU time
// (process.cpuUsage: user + system, all threads) from before the first
// request to the last answer, and the number of good answers.
'use strict';
const http = require('http');
const { performance } = require('perf_hooks');

const url = `http://127.0.0.1:${process.env.PORT}/`;
const total = Number(process.env.REQUESTS || 100000);
const inFlight = Number(process.env.IN_FLIGHT || 32);
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

let started = 0, finished = 0, ok = 0;
let wall0, cpu0;

function done() {
  const ms = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  process.stdout.write(
    `result impl=node ms=${ms.toFixed(1)} cpu_ms=${((cpu.user + cpu.system) / 1000).toFixed(1)} count=${ok}\n`);
}

function answered(good, what) {
  finished++;
  if (good) ok++;
  else if (finished - ok <= 5) process.stderr.write(`bad answer: ${what}\n`);
  if (started < total) get();
  else if (finished === total) done();
}

function get() {
  started++;
  const req = http.request(url, { method: 'GET', agent }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk) => { body += chunk; });
    res.on('end', () => answered(res.statusCode === 200 && body === 'Hello, World!', `${res.statusCode} ${body}`));
  });
  req.on('error', (err) => answered(false, err.message));
  req.end();
}

wall0 = performance.now();
cpu0 = process.cpuUsage();
for (let i = 0; i < Math.min(inFlight, total); i++) get();
