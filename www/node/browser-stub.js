// What `tabmq/node` resolves to in a browser bundle: the Node host needs
// node:net and the ws package, so here it only explains where to look.

import { TabmqError } from '../shared/errors.js';

export { TabmqError, ERROR_CODES } from '../shared/errors.js';

export async function createBroker() {
  throw new TabmqError(
    "tabmq: 'tabmq/node' is the Node host (real TCP and WebSocket ports); in a browser use startBroker() from 'tabmq'",
    'ERR_TABMQ_PLATFORM',
  );
}
