// Runs bin/tabmq.js as a child process for the CLI and load tests.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { within } from './helpers.mjs';

export const CLI = fileURLToPath(new URL('../../bin/tabmq.js', import.meta.url));

/** Runs the CLI to completion: { code, signal, stdout, stderr }. */
export function runCli(args, ms = 10_000) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return within(ms, `tabmq ${args.join(' ')} to exit`, new Promise((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  })).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
}

/** A listener URL's scheme -> the key of `urls` it is under. */
const TRANSPORTS = { mqtt: 'tcp', ws: 'ws', mqtts: 'tls', wss: 'wss', http: 'http', https: 'https', coap: 'coap' };

/**
 * Starts the CLI and waits until each listener's "listening on URL" line is
 * out. Returns { pid, lines (stdout, growing), stderr(), urls: { tcp, ws, tls, wss, http, https },
 * waitFor(regex), stop(signal) -> { code, signal } }.
 */
export async function startCli(args, ms = 10_000) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let stderr = '';
  let partial = '';
  const waiters = new Set();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop();
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  /** Resolves once check(lines) is truthy (with its value); bounded. */
  const waitLines = (what, check, wait = ms) => within(wait, `${what} (stderr: ${stderr.trim()})`, new Promise((resolve, reject) => {
    const test = () => {
      const value = check(lines);
      if (!value) return;
      waiters.delete(test);
      resolve(value);
    };
    waiters.add(test);
    exited.then(() => {
      test();
      if (waiters.has(test)) reject(new Error(`tabmq exited before ${what}: ${stderr.trim()}`));
    });
    test();
  }));
  const waitFor = (re, wait = ms) => waitLines(`a line matching ${re}`, (ls) => ls.find((l) => re.test(l)), wait);
  const listeners = (args.filter((a) => ['--tcp', '--ws', '--tls', '--wss'].includes(a)).length || 1) + args.filter((a) => a === '--http' || a === '--coap').length;
  const urls = {};
  try {
    const listening = await waitLines('tabmq to listen', (ls) => {
      const found = ls.filter((l) => l.includes(' listening on ')).map((l) => l.split(' listening on ')[1]);
      return found.length >= listeners && found;
    });
    for (const u of listening) urls[TRANSPORTS[u.split(':')[0]] ?? 'tcp'] ??= u;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    pid: child.pid,
    child,
    lines,
    stderr: () => stderr,
    urls,
    waitFor,
    exited,
    async stop(signal = 'SIGTERM', wait = 10_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      try {
        return await within(wait, `tabmq to exit after ${signal}`, exited);
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      }
    },
  };
}
