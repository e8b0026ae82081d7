// A broker in a process of its own, for the Node comparison: `tabmq` (the
// Node host, www/node/index.js) or `aedes` (in-memory, on node:net). Prints
// {"port": N} once listening; exits when its stdin closes or on SIGTERM.
//   node bench/node/broker-child.mjs tabmq|aedes [OPTIONS_JSON]
//
// tabmq only: OPTIONS_JSON is merged into createBroker's options (bridges,
// limits, ...). Then each line written to its stdin, a JSON request
// {"id", "op": "stats" | "pauseBridge" | "resumeBridge", "name"?}, is
// answered by a line {"id", "result"} or {"id", "error"} on stdout, and
// every 'bridge' event is printed as a line {"event": "bridge", ...}.

import net from 'node:net';

const kind = process.argv[2];
let close;
let handle = () => {
  throw new Error(`broker-child: ${kind} takes no requests`);
};

if (kind === 'tabmq') {
  const { createBroker } = await import('../.work/www/node/index.js');
  const extra = process.argv[3] ? JSON.parse(process.argv[3]) : {};
  const broker = await createBroker({ tcp: { port: 0, host: '127.0.0.1' }, durability: 'memory', ...extra });
  broker.on('bridge', (e) => console.log(JSON.stringify({ event: 'bridge', ...e })));
  console.log(JSON.stringify({ port: broker.ports.tcp }));
  close = () => broker.close();
  handle = ({ op, name }) => {
    if (op === 'stats') return broker.stats();
    if (op === 'pauseBridge') return broker.pauseBridge(name) ?? null;
    if (op === 'resumeBridge') return broker.resumeBridge(name) ?? null;
    throw new Error(`broker-child: unknown request ${op}`);
  };
} else if (kind === 'aedes') {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const server = net.createServer(aedes.handle);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  console.log(JSON.stringify({ port: server.address().port }));
  close = () => new Promise((ok) => {
    server.close();
    aedes.close(ok);
  });
} else {
  console.error(`broker-child: unknown broker ${kind}`);
  process.exit(2);
}

let exiting = false;
async function exit() {
  if (exiting) return;
  exiting = true;
  const t = setTimeout(() => process.exit(0), 2000);
  await close().catch(() => {});
  clearTimeout(t);
  process.exit(0);
}
process.on('SIGTERM', exit);
process.on('SIGINT', exit);
process.stdin.on('end', exit);
process.stdin.on('close', exit);
let pending = '';
process.stdin.setEncoding('utf8').on('data', (chunk) => {
  pending += chunk;
  for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
    const line = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (!line) continue;
    let req = {};
    try {
      req = JSON.parse(line);
      console.log(JSON.stringify({ id: req.id, result: handle(req) }));
    } catch (err) {
      console.log(JSON.stringify({ id: req.id, error: String(err?.message ?? err) }));
    }
  }
});
process.stdin.resume();
