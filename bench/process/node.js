// 2,000 execFile('true'), 16 in flight, on Node.js child_process.
// Prints: result impl=node ms=<wall> rss_kib=<VmHWM> count=<clean exits>
'use strict';
const fs = require('fs');
const { execFile } = require('child_process');
const { performance } = require('perf_hooks');

const N = Number(process.env.EXEC_N) || 2000;
const IN_FLIGHT = Number(process.env.EXEC_IN_FLIGHT) || 16;

function peakRssKib() {
  const m = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

let started = 0, count = 0, finished = 0, tEnd = null;
function one() {
  started++;
  execFile('true', [], (err, stdout) => {
    if (!err && stdout === '') count++;
    finished++;
    if (finished === N) tEnd = performance.now();
    if (started < N) one();
  });
}

const t0 = performance.now();
for (let i = 0; i < Math.min(IN_FLIGHT, N); i++) one();

process.on('exit', () => {
  const ms = tEnd === null ? -1 : tEnd - t0;
  process.stdout.write(
    `result impl=node ms=${ms.toFixed(1)} rss_kib=${peakRssKib()} count=${count}\n`);
});
