// `tabmq passwd`: makes and edits password files, with the verbs of
// Mosquitto 2.0's mosquitto_passwd, so that a file made by either works with
// `tabmq --password-file` and Mosquitto's `password_file`. Each user is a
// line `USER:$7$101$<salt>$<hash>`: PBKDF2-SHA512, 101 iterations (Mosquitto
// 2.0's default), a 12-byte random salt and a 64-byte hash, both base64.
// The broker core (the wasm, `hashPassword`) computes the hash: the same
// code that checks it.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadCore } from './core.js';

/** Mosquitto 2.0's default. */
const ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH = 'sha512-pbkdf2';

const USAGE = `Usage: tabmq passwd [-c | -D] FILE USER
       tabmq passwd [-c] -b FILE USER PASSWORD
       tabmq passwd -U FILE

Makes and edits password files for \`tabmq --password-file\` and Mosquitto's
password_file, as Mosquitto 2.0's mosquitto_passwd does: a line per user,
USER:$7$101$SALT$HASH (PBKDF2-SHA512, 101 iterations, base64). A user's
line is replaced where it is; other lines (comments too) are kept as they are.

  -c        create FILE with USER alone (an existing FILE is overwritten)
  -b        batch mode: the password is the last argument (it is then
            visible to other users of the machine and in shell history)
  -D        delete USER from FILE
  -U        hash the plain-text passwords of FILE (USER:PASSWORD lines);
            lines already hashed ($6$ or $7$) are left as they are
  -H HASH   the hash to use: sha512-pbkdf2 (the default and the only one)
  -h, --help  print this help and exit

Without -b the password is asked for twice on the terminal, without echo
(or read as two lines from standard input when it is not a terminal).
A username must not be empty nor contain ':'.
`;

class UsageError extends Error {}
class Failure extends Error {}

/** Runs `tabmq passwd ARGS`; resolves to the exit status (2: bad usage). */
export async function passwd(argv) {
  try {
    return await run(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`tabmq passwd: ${err.message} (see tabmq passwd --help)\n`);
      return 2;
    }
    if (err instanceof Failure) {
      process.stderr.write(`tabmq passwd: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * The flags, as mosquitto_passwd reads them: at the front, single letters
 * that may be grouped (-cb); the first other argument (or `--`) starts FILE
 * USER [PASSWORD], so a password may begin with '-'.
 */
function parse(argv) {
  const flags = new Set();
  let hash;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-h' || a === '--help') return { help: true };
    if (!a.startsWith('-') || a === '-') break;
    if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    for (let j = 1; j < a.length; j++) {
      const ch = a[j];
      if (ch === 'H') {
        hash = a.slice(j + 1) || argv[++i];
        if (hash === undefined) throw new UsageError('option -H needs a value');
        break;
      }
      if (!'cbDU'.includes(ch)) throw new UsageError(`unknown option -${ch}`);
      flags.add(ch);
    }
  }
  const rest = argv.slice(i);
  if (hash !== undefined && hash !== HASH) {
    throw new UsageError(`-H: tabmq writes ${HASH} hashes only (Mosquitto 2.0's default), got '${hash}'`);
  }
  const has = (ch) => flags.has(ch);
  if (has('c') && has('D')) throw new UsageError('-c and -D cannot be used together');
  if (has('U')) {
    if (has('c') || has('D') || has('b')) throw new UsageError('-U cannot be used with -c, -D or -b');
    if (rest.length !== 1) throw new UsageError(`-U takes FILE alone, got ${count(rest)}`);
    return { mode: 'upgrade', file: rest[0] };
  }
  const batch = has('b') && !has('D');
  const want = batch ? 'FILE USER PASSWORD' : 'FILE USER';
  if (rest.length !== want.split(' ').length) {
    throw new UsageError(`expected ${want}${has('b') && !has('D') ? ' (with -b)' : ''}, got ${count(rest)}`);
  }
  const [file, user, password] = rest;
  checkUser(user);
  return { mode: has('D') ? 'delete' : 'set', create: has('c'), file, user, password };
}

function count(args) {
  return args.length === 1 ? '1 argument' : `${args.length} arguments`;
}

function checkUser(user) {
  if (user === '') throw new UsageError('the username must not be empty');
  if (user.includes(':')) throw new UsageError(`the username must not contain ':', got '${user}'`);
  if (/[\r\n]/.test(user)) throw new UsageError('the username must not contain a line break');
}

async function run(argv) {
  const args = parse(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const hash = await hasher();
  if (args.mode === 'upgrade') {
    const { text, skipped } = upgrade(readPasswordFile(args.file), hash);
    writePasswordFile(args.file, text);
    if (skipped > 0) process.stderr.write(`tabmq passwd: ${skipped} line(s) already hashed, left as they were\n`);
    return 0;
  }
  if (args.mode === 'delete') {
    const { text, found } = removeUser(readPasswordFile(args.file), args.user);
    if (!found) throw new Failure(`user ${args.user} is not in ${args.file}`);
    writePasswordFile(args.file, text);
    return 0;
  }
  // Read the file before asking for a password: a missing one fails first.
  const old = args.create ? '' : readPasswordFile(args.file);
  const password = args.password ?? await askPassword();
  writePasswordFile(args.file, setUser(old, args.user, hash(password)));
  return 0;
}

/** `(password) -> '$7$101$salt$hash'`, from the broker core. */
async function hasher() {
  let core;
  try {
    core = await loadCore();
  } catch (err) {
    throw new Failure(String(err.message).replace(/^tabmq: /, ''));
  }
  if (typeof core.hashPassword !== 'function') {
    throw new Failure('the broker core in www/pkg has no hashPassword: rebuild it with `npm run build:wasm`');
  }
  return (password) => core.hashPassword(password, new Uint8Array(randomBytes(SALT_BYTES)), ITERATIONS);
}

function readPasswordFile(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const hint = err.code === 'ENOENT' ? '; -c creates it' : '';
    throw new Failure(`cannot read ${file} (${err.code ?? err.message})${hint}`);
  }
}

/** Writes in place (a new file is readable by its owner only). */
function writePasswordFile(file, text) {
  try {
    writeFileSync(file, text, { mode: 0o600 });
  } catch (err) {
    throw new Failure(`cannot write ${file} (${err.code ?? err.message})`);
  }
}

/** The user a line is for; null for blank lines and comments. */
function userOf(line) {
  const l = line.replace(/\r$/, '');
  if (l.trim() === '' || l.trimStart().startsWith('#')) return null;
  const colon = l.indexOf(':');
  return colon < 0 ? l : l.slice(0, colon);
}

/** `text` with `user`'s line replaced where it was (later duplicates
 *  dropped), or appended; every other line as it was. */
export function setUser(text, user, hashed) {
  const cr = text.includes('\r\n') ? '\r' : '';
  const line = `${user}:${hashed}`;
  const out = [];
  let found = false;
  for (const l of text.split('\n')) {
    if (userOf(l) !== user) out.push(l);
    else if (!found) {
      out.push(`${line}${l.endsWith('\r') ? '\r' : ''}`);
      found = true;
    }
  }
  if (!found) {
    // After the last line, which ends with a line break.
    if (out.at(-1) === '') out.splice(-1, 0, `${line}${cr}`);
    else {
      // The last line had no line break: give it one.
      if (!out.at(-1).endsWith('\r')) out[out.length - 1] += cr;
      out.push(`${line}${cr}`, '');
    }
  }
  return out.join('\n');
}

/** `text` without `user`'s lines; `found` says whether there were any. */
export function removeUser(text, user) {
  const lines = text.split('\n');
  const kept = lines.filter((l) => userOf(l) !== user);
  return { text: kept.join('\n'), found: kept.length < lines.length };
}

/** Hashes the password of each `USER:PASSWORD` line that is not hashed yet. */
function upgrade(text, hash) {
  let skipped = 0;
  const out = text.split('\n').map((l) => {
    const user = userOf(l);
    const colon = l.indexOf(':');
    if (user === null || colon < 0) return l;
    const cr = l.endsWith('\r') ? '\r' : '';
    const password = l.slice(colon + 1, l.length - cr.length);
    if (/^\$[67]\$/.test(password)) {
      skipped++;
      return l;
    }
    return `${user}:${hash(password)}${cr}`;
  });
  return { text: out.join('\n'), skipped };
}

/** Asks for the password twice, as mosquitto_passwd does. */
async function askPassword() {
  const input = lineReader(process.stdin);
  try {
    process.stdout.write('Password: ');
    const first = await input.read();
    process.stdout.write('\n');
    if (first === null || first === '') throw new Failure('empty password');
    process.stdout.write('Reenter password: ');
    const second = await input.read();
    process.stdout.write('\n');
    if (second === null || second === '') throw new Failure('empty password');
    if (second !== first) throw new Failure('the passwords do not match');
    return first;
  } finally {
    input.close();
  }
}

/**
 * Lines from `stream`: `read()` resolves to the next one (null at the end).
 * On a terminal, in raw mode: nothing is echoed; backspace, Ctrl-U (erase
 * the line), Ctrl-C (exit 130) and Ctrl-D (the end) work.
 */
function lineReader(stream) {
  const tty = Boolean(stream.isTTY);
  const lines = [];
  const waiting = [];
  let partial = '';
  let ended = false;
  let afterCr = false; // a terminal's Enter is \r; \r\n (pasted) is one line end
  const flush = () => {
    while (waiting.length > 0 && (lines.length > 0 || ended)) {
      waiting.shift()(lines.length > 0 ? lines.shift() : null);
    }
  };
  const onData = (chunk) => {
    for (const ch of chunk) {
      const skip = tty && afterCr && ch === '\n';
      afterCr = tty && ch === '\r';
      if (skip) continue;
      if (ch === '\n' || (tty && ch === '\r')) {
        lines.push(partial.replace(/\r$/, ''));
        partial = '';
      } else if (tty && (ch === '\x7f' || ch === '\b')) {
        partial = [...partial].slice(0, -1).join('');
      } else if (tty && ch === '\x15') {
        partial = '';
      } else if (tty && ch === '\x03') {
        stream.setRawMode(false);
        process.stdout.write('\n');
        process.exit(130);
      } else if (tty && ch === '\x04') {
        onEnd();
        return;
      } else {
        partial += ch;
      }
    }
    flush();
  };
  const onEnd = () => {
    if (partial !== '') lines.push(partial.replace(/\r$/, ''));
    partial = '';
    ended = true;
    flush();
  };
  stream.setEncoding('utf8');
  if (tty) stream.setRawMode(true);
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.resume();
  return {
    read: () => new Promise((resolve) => {
      waiting.push(resolve);
      flush();
    }),
    close() {
      stream.off('data', onData);
      stream.off('end', onEnd);
      if (tty) stream.setRawMode(false);
      stream.pause();
    },
  };
}
