// The bench measures a snapshot of www/ taken at its start, in
// bench/.work/www: the checkout may be rebuilt meanwhile, and every number
// of one run must come from the same build. (It can also be another copy
// of www/, a patched one, for before/after measurements.) The command line
// (bin/) is copied next to it, in bench/.work/bin, so that `tabmq` started
// from there runs the snapshot's www/.

import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SNAPSHOT = fileURLToPath(new URL('../.work/www', import.meta.url));
/** The snapshot's `tabmq` command (bin/tabmq.js, importing ../www). */
export const CLI = fileURLToPath(new URL('../.work/bin/tabmq.js', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin', import.meta.url));

export function snapshot(src) {
  rmSync(SNAPSHOT, { recursive: true, force: true });
  mkdirSync(SNAPSHOT, { recursive: true });
  for (const dir of ['browser', 'node', 'shared', 'pkg']) cpSync(join(src, dir), join(SNAPSHOT, dir), { recursive: true });
  rmSync(dirname(CLI), { recursive: true, force: true });
  cpSync(BIN, dirname(CLI), { recursive: true });
  if (!existsSync(join(SNAPSHOT, 'pkg/tabmq_bg.wasm'))) {
    throw new Error(`${src}/pkg has no tabmq_bg.wasm (a concurrent build?): build it, or run again`);
  }
  return SNAPSHOT;
}
