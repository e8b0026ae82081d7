// The broker core (www/pkg, the wasm) for the command line, loaded from disk
// the way the Node host loads it: `tabmq` reads its limits table for the
// limit flags, `tabmq passwd` hashes passwords with it.

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { loadWasm } from '../www/shared/host.js';
import * as core from '../www/pkg/tabmq.js';

const WASM_URL = new URL('../www/pkg/tabmq_bg.wasm', import.meta.url);

/**
 * Loads the wasm once and resolves to the module's exports (`resolveLimits`,
 * `hashPassword`, ...). Errors they throw are TabmqErrors. Rejects with a
 * one-line message when the wasm is not built.
 */
export async function loadCore() {
  let bytes;
  try {
    bytes = await readFile(WASM_URL);
  } catch (err) {
    throw new Error(`tabmq: cannot read the broker's wasm at ${fileURLToPath(WASM_URL)} `
      + `(${err.code ?? err.message}); build it with \`npm run build:wasm\``, { cause: err });
  }
  await loadWasm(bytes);
  return core;
}

/** `maxPacketSize` -> `max-packet-size`. */
export function kebab(name) {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
