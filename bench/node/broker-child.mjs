// A broker in a process of its own, for the Node comparison: `tabmq` (the
// Node host, www/node/index.js) or `aedes` (in-memory, on node:net). Prints
// {"port": N} once listening; exits when its stdin closes or on SIGTERM.
//   node bench/node/broker-child.mjs tabmq|aedes

import net from 'node:net';

const kind = process.argv[2];
let close;

if (kind === 'tabmq') {
  const { createBroker } = await import('../.work/www/node/index.js');
  const broker = await createBroker({ tcp: { port: 0, host: '127.0.0.1' }, durability: 'memory' });
  console.log(JSON.stringify({ port: broker.ports.tcp }));
  close = () => broker.close();
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
process.stdin.resume();
