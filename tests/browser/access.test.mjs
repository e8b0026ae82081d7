// Access control in the browser: a Mosquitto password file and ACL given as
// text to startBroker(), the `users` option, and setAccess() on a running
// broker, in a SharedWorker and inline, with real MQTT.js clients.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBrowser } from './harness.mjs';

// `mosquitto_passwd -b` 2.0.11 made this line for alice, password `sécret:1`.
const PASSWORD_FILE = 'alice:$7$101$m9KtVovvNsR1ikKa$TKwjh+kZjlO9cyaaq8rKDAxlzM+QQOdrlWBbLhnL8Ryy9B+g4zwVq20cuJsfPoXKumhgfrHmVlbd72+/dT0k2w==\n';
const ACL = 'user alice\ntopic readwrite alice/#\nuser bob\ntopic readwrite bob/#\ntopic write alice/inbox\n';

let b;
before(async () => {
  b = await startBrowser();
});
after(async () => {
  await b?.close();
});

let counter = 0;
const uniqueName = (prefix) => `${prefix}-${Date.now()}-${counter++}`;

for (const mode of ['shared', 'inline']) {
  test(`mode ${mode}: passwords and the ACL decide who connects and who reads what`, async () => {
    const p = await b.newPage();
    await p.waitForFunction(() => window.ready === true);
    const r = await p.evaluate(async ({ mode, name, passwordFile, acl }) => {
      const broker = await tabmq.startBroker({
        name, mode, durability: 'memory', sysInterval: 0,
        passwordFile, users: [{ username: 'bob', password: 'bobpw' }], acl,
      });
      const refused = async (opts) => {
        try {
          const c = await h.connect(broker, { protocolVersion: 5, ...opts });
          await c.endAsync();
          return 'accepted';
        } catch (err) {
          return err.code;
        }
      };
      const wrong = await refused({ username: 'alice', password: 'secret:1' });
      const anonymous = await refused({});
      const alice = await h.connect(broker, { protocolVersion: 5, username: 'alice', password: 'sécret:1' });
      const granted = [(await alice.subscribeAsync('#', { qos: 1 }))[0].qos];
      granted.push(await alice.subscribeAsync('bob/#', { qos: 1 }).then(() => 'granted', (err) => err.packet?.granted?.[0]));
      const bob = await h.connect(broker, { protocolVersion: 5, username: 'bob', password: 'bobpw' });
      const refusedPublish = await bob.publishAsync('alice/private', 'x', { qos: 1 }).then(() => 'acked', (err) => err.code);
      await bob.publishAsync('bob/news', 'not for alice', { qos: 1 });
      const got = h.collect(alice, 1);
      await bob.publishAsync('alice/inbox', 'hello', { qos: 1 });
      const first = (await got).map(h.plain);
      // New rules: alice may read bob/# too, at once.
      await broker.setAccess({ acl: `${acl}user alice\ntopic read bob/#\n` });
      const more = h.collect(alice, 1);
      await bob.publishAsync('bob/news', 'now for alice', { qos: 1 });
      const second = (await more).map(h.plain);
      const badFile = await broker.setAccess({ passwordFile: 'alice:plain' }).then(() => 'accepted', (err) => [err.name, err.code, err.message]);
      await alice.endAsync();
      await bob.endAsync();
      await broker.close();
      return {
        wrong, anonymous, granted, refusedPublish, first, second, badFile,
      };
    }, { mode, name: uniqueName('access'), passwordFile: PASSWORD_FILE, acl: ACL });
    assert.equal(r.wrong, 134, 'a wrong password is CONNACK 0x86');
    assert.equal(r.anonymous, 135, 'anonymous clients are refused once passwords are given (0x87)');
    assert.deepEqual(r.granted, [1, 135], '# is granted (each message is checked); bob/# is 0x87');
    assert.equal(r.refusedPublish, 135, 'bob may not write alice/private: PUBACK 0x87');
    assert.deepEqual(r.first.map((m) => [m.topic, m.payload]), [['alice/inbox', 'hello']], 'bob/news never reached alice');
    assert.deepEqual(r.second.map((m) => [m.topic, m.payload]), [['bob/news', 'now for alice']]);
    assert.equal(r.badFile[0], 'TabmqError');
    assert.equal(r.badFile[1], 'ERR_TABMQ_OPTION');
    assert.match(r.badFile[2], /passwordFile.*line 1/);
    await p.close();
  });
}

test('no errors in the browser console', () => {
  assert.deepEqual(b.errors, []);
});
