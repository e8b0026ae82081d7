// `tabmq passwd` (bin/passwd.js): Mosquitto 2.0's mosquitto_passwd verbs
// (-c, -b, -D, -U, the password asked twice), lines in Mosquitto's format
// that a real Mosquitto accepts, other lines of the file kept.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from './helpers.mjs';
import { CLI } from './cli-helpers.mjs';
import { startMosquitto } from './mosquitto.mjs';

/** USER:$7$101$<12 bytes, base64>$<64 bytes, base64>. */
const LINE = /^([^:\n]+):\$7\$101\$([A-Za-z0-9+/]{16})\$([A-Za-z0-9+/]{86}==)$/;

let dir;
let n = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tabmq-passwd-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A new path in the temp dir, with `text` in it unless undefined. */
function file(text) {
  const path = join(dir, `passwd-${++n}`);
  if (text !== undefined) writeFileSync(path, text);
  return path;
}

/** Runs `tabmq passwd ...args`, `input` on its stdin (a pipe, not a
 *  terminal); resolves to { code, stdout, stderr }. */
function passwd(args, input) {
  const child = spawn(process.execPath, [CLI, 'passwd', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  child.stdin.on('error', () => {}); // it may exit before reading
  child.stdin.end(input ?? '');
  return within(10_000, `tabmq passwd ${args.join(' ')}`, new Promise((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  })).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
}

/** Whether `line` holds the PBKDF2-SHA512 hash of `password` (checked with node:crypto). */
function holds(line, user, password) {
  const m = LINE.exec(line);
  assert.ok(m, `a $7$ line: ${line}`);
  assert.equal(m[1], user);
  const salt = Buffer.from(m[2], 'base64');
  assert.equal(salt.length, 12);
  return pbkdf2Sync(Buffer.from(password), salt, 101, 64, 'sha512').toString('base64') === m[3];
}

const lines = (path) => readFileSync(path, 'utf8').split('\n');

describe('tabmq passwd', () => {
  test('-c -b writes USER:$7$101$salt$hash, PBKDF2-SHA512 of the password, a new salt each time', async () => {
    const f = file();
    const r = await passwd(['-c', '-b', f, 'alice', 's3cret']);
    assert.deepEqual(r, { code: 0, stdout: '', stderr: '' });
    const [line, end, ...rest] = lines(f);
    assert.equal(end, '');
    assert.deepEqual(rest, []);
    assert.ok(holds(line, 'alice', 's3cret'));
    assert.ok(!holds(line, 'alice', 's3cret '));
    assert.equal(statSync(f).mode & 0o777, 0o600, 'a new file is its owner\'s only');
    // -c again: the file holds the new user alone; the salt is new.
    assert.equal((await passwd(['-cb', f, 'alice', 's3cret'])).code, 0);
    const [again] = lines(f);
    assert.notEqual(LINE.exec(again)[2], LINE.exec(line)[2]);
    assert.equal((await passwd(['-c', '-b', f, 'bob', 'pw'])).code, 0);
    assert.deepEqual(lines(f).map((l) => l.split(':')[0]), ['bob', '']);
  });

  test('-b adds a user at the end, replaces one where it is, and keeps every other line', async () => {
    const f = file('# users of the test\nalice:$7$101$old$old\n\n# end\n');
    assert.equal((await passwd(['-b', f, 'bob', 'bpw'])).code, 0);
    assert.equal((await passwd(['-b', f, 'alice', 'apw'])).code, 0);
    const got = lines(f);
    assert.equal(got.length, 6);
    assert.equal(got[0], '# users of the test');
    assert.ok(holds(got[1], 'alice', 'apw'));
    assert.deepEqual(got.slice(2, 4), ['', '# end']);
    assert.ok(holds(got[4], 'bob', 'bpw'));
    assert.equal(got[5], '');
    // A file without a final line break, with CRLF line ends.
    const crlf = file('# crlf\r\nalice:x\r\ncarol:y');
    assert.equal((await passwd(['-b', crlf, 'alice', 'a'])).code, 0);
    assert.equal((await passwd(['-b', crlf, 'dave', 'd'])).code, 0);
    const parts = readFileSync(crlf, 'utf8').split('\n');
    assert.equal(parts[0], '# crlf\r');
    assert.ok(holds(parts[1].slice(0, -1), 'alice', 'a') && parts[1].endsWith('\r'));
    assert.equal(parts[2], 'carol:y\r');
    assert.ok(holds(parts[3].slice(0, -1), 'dave', 'd'));
    assert.equal(parts[4], '');
  });

  test('-D deletes a user; an unknown user: status 1, the file unchanged', async () => {
    const f = file('# keep\nalice:a\nbob:b\n');
    assert.deepEqual(await passwd(['-D', f, 'alice']), { code: 0, stdout: '', stderr: '' });
    assert.equal(readFileSync(f, 'utf8'), '# keep\nbob:b\n');
    const r = await passwd(['-D', f, 'alice']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `tabmq passwd: user alice is not in ${f}\n`);
    assert.equal(readFileSync(f, 'utf8'), '# keep\nbob:b\n');
  });

  test('-U hashes plain-text passwords, leaves hashed lines and comments', async () => {
    const hashed = 'zed:$7$101$AAAAAAAAAAAAAAAA$' + 'A'.repeat(86) + '==';
    const f = file(`# plain\ncarol:pw:with:colons\n${hashed}\ndave:\n`);
    const r = await passwd(['-U', f]);
    assert.equal(r.code, 0, r.stderr);
    const got = lines(f);
    assert.equal(got[0], '# plain');
    assert.ok(holds(got[1], 'carol', 'pw:with:colons'));
    assert.equal(got[2], hashed);
    assert.ok(holds(got[3], 'dave', ''));
    assert.match(r.stderr, /1 line\(s\) already hashed/);
  });

  test('without -b: the password asked twice, as mosquitto_passwd asks', async () => {
    const f = file();
    const r = await passwd(['-c', f, 'erin'], 'hunter2\nhunter2\n');
    assert.deepEqual(r, { code: 0, stdout: 'Password: \nReenter password: \n', stderr: '' });
    assert.ok(holds(lines(f)[0], 'erin', 'hunter2'));

    const before = readFileSync(f, 'utf8');
    const differ = await passwd([f, 'erin'], 'one\ntwo\n');
    assert.equal(differ.code, 1);
    assert.equal(differ.stderr, 'tabmq passwd: the passwords do not match\n');
    const empty = await passwd([f, 'erin'], '\n\n');
    assert.equal(empty.code, 1);
    assert.equal(empty.stderr, 'tabmq passwd: empty password\n');
    const eof = await passwd([f, 'erin'], 'only-once\n');
    assert.equal(eof.code, 1);
    assert.equal(readFileSync(f, 'utf8'), before, 'unchanged');
  });

  test('on a terminal the password is not echoed', { timeout: 20_000 }, async (t) => {
    if (spawnSync('python3', ['-c', 'import pty']).status !== 0) return t.skip('no python3 with pty');
    const f = file();
    // A pseudo-terminal: type the password when asked, twice.
    const script = `
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b''
def until(s):
    global out
    while s not in out:
        d = os.read(fd, 1024)
        if not d: raise SystemExit('ended before ' + repr(s) + ': ' + repr(out))
        out += d
until(b'Password: ')
os.write(fd, b'pty-secret\\r')
until(b'Reenter password: ')
os.write(fd, b'pty-secret\\r')
try:
    while True:
        d = os.read(fd, 1024)
        if not d: break
        out += d
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode())
sys.exit(os.waitstatus_to_exitcode(status))
`;
    const out = execFileSync('python3', ['-c', script, process.execPath, CLI, 'passwd', '-c', f, 'pty-user'], { encoding: 'utf8', timeout: 15_000 });
    assert.ok(!out.includes('pty-secret'), `the password was echoed: ${JSON.stringify(out)}`);
    assert.match(out, /Password: [\s\S]*Reenter password: /);
    assert.ok(holds(lines(f)[0], 'pty-user', 'pty-secret'));
  });

  const usage = [
    [[], /expected FILE USER, got 0 arguments/],
    [['-c', '-D', 'f', 'u'], /-c and -D cannot be used together/],
    [['-b', 'f', 'u'], /expected FILE USER PASSWORD \(with -b\), got 2 arguments/],
    [['-b', 'f', 'a:b', 'pw'], /the username must not contain ':', got 'a:b'/],
    [['-b', 'f', '', 'pw'], /the username must not be empty/],
    [['f', 'u', 'extra'], /expected FILE USER, got 3 arguments/],
    [['-U'], /-U takes FILE alone, got 0 arguments/],
    [['-U', '-b', 'f'], /-U cannot be used with -c, -D or -b/],
    [['-x', 'f', 'u'], /unknown option -x/],
    [['--create', 'f', 'u'], /unknown option --create/],
    [['-H', 'sha512', 'f', 'u'], /-H: tabmq writes sha512-pbkdf2 hashes only/],
  ];
  for (const [args, message] of usage) {
    test(`passwd ${args.join(' ') || '(nothing)'}: one line, status 2, no file written`, async () => {
      const r = await passwd(args.map((a) => (a === 'f' ? join(dir, 'never-written') : a)));
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /^tabmq passwd: .* \(see tabmq passwd --help\)\n$/);
      assert.throws(() => statSync(join(dir, 'never-written')));
    });
  }

  test('a file that is not there without -c: status 1, says -c creates it', async () => {
    const r = await passwd(['-b', join(dir, 'missing'), 'u', 'p']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^tabmq passwd: cannot read .*missing \(ENOENT\); -c creates it\n$/);
  });

  test('--help', async () => {
    const r = await passwd(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: tabmq passwd \[-c \| -D\] FILE USER\n/);
    for (const flag of ['-c', '-b', '-D', '-U']) assert.ok(r.stdout.includes(`  ${flag} `), flag);
  });
});

describe('a real Mosquitto reads what tabmq passwd writes', () => {
  let mosq;
  let f;
  before(async () => {
    f = file('# made by tabmq passwd\n');
    for (const args of [['-b', f, 'alice', 'al1ce'], ['-b', f, 'bob', 'b0b']]) {
      const r = await passwd(args);
      assert.equal(r.code, 0, r.stderr);
    }
    writeFileSync(f, `${readFileSync(f, 'utf8')}carol:plain-pw\n`);
    assert.equal((await passwd(['-U', f])).code, 0);
    const r = await passwd(['-D', f, 'bob']);
    assert.equal(r.code, 0, r.stderr);
    mosq = await startMosquitto({ extraConfig: `allow_anonymous false\npassword_file ${f}` });
  });
  after(async () => {
    await mosq?.stop();
  });

  const pub = (...args) => spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mosq.tcpPort), '-t', 't', '-m', 'm', ...args],
    { encoding: 'utf8', timeout: 10_000 });

  test('mosquitto_pub with the right password is accepted', () => {
    for (const [u, p] of [['alice', 'al1ce'], ['carol', 'plain-pw']]) {
      const r = pub('-u', u, '-P', p);
      assert.equal(r.status, 0, `${u}: ${r.stderr}\n${mosq.logs()}`);
      const v5 = pub('-V', 'mqttv5', '-u', u, '-P', p);
      assert.equal(v5.status, 0, `${u} (MQTT 5): ${v5.stderr}`);
    }
  });

  test('a wrong password, a deleted user and no user are refused', () => {
    for (const args of [['-u', 'alice', '-P', 'wrong'], ['-u', 'bob', '-P', 'b0b'], []]) {
      const r = pub(...args);
      assert.notEqual(r.status, 0, `${args.join(' ')} was accepted`);
      assert.match(r.stderr, /not authori[sz]ed/i);
    }
  });
});

test('npm pack ships the CLI\'s modules', () => {
  const root = new URL('../../', import.meta.url);
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' }));
  const files = packed.files.map((x) => x.path);
  for (const f of ['bin/tabmq.js', 'bin/passwd.js', 'bin/core.js']) assert.ok(files.includes(f), `${f} is in the package`);
});
