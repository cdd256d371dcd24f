// 1,000,000 timers (timeout i % 2 ms) on Node.js setTimeout; with
// TIMERS_API=setImmediate, 1,000,000 setImmediate; with
// TIMERS_API=setInterval, 10,000 setInterval(1 ms) ticking 1,000,000 times
// in all, then cleared.
// Prints: result impl=node ms=<wall> rss_kib=<VmHWM> count=<callbacks>
'use strict';
const fs = require('fs');
const { performance } = require('perf_hooks');

const N = Number(process.env.TIMERS_N) || 1000000;
const INTERVALS = Number(process.env.TIMERS_INTERVALS) || 10000;

function peakRssKib() {
  const m = /VmHWM:\s*(\d+)\s*kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : -1;
}

let count = 0;
let tEnd = null;
function cb() {
  count++;
  if (count === N) tEnd = performance.now();
}

const intervals = [];
function tick() {
  if (count === N) return;
  count++;
  if (count === N) {
    tEnd = performance.now();
    for (const interval of intervals) clearInterval(interval);
  }
}

const t0 = performance.now();
if (process.env.TIMERS_API === 'setInterval') {
  for (let i = 0; i < INTERVALS; i++) intervals.push(setInterval(tick, 1));
} else if (process.env.TIMERS_API === 'setImmediate') {
  for (let i = 1; i <= N; i++) setImmediate(cb);
} else {
  for (let i = 1; i <= N; i++) setTimeout(cb, i % 2);
}

process.on('exit', () => {
  const ms = tEnd === null ? -1 : tEnd - t0;
  process.stdout.write(
    `result impl=node ms=${ms.toFixed(1)} rss_kib=${peakRssKib()} count=${count}\n`);
});
