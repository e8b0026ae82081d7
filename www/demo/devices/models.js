// What each simulated device does, without MQTT: a model gets its spec, its
// saved state ("flash") and an `io` ({ publish, save, now }), and returns
// { tick, tickMs, subscriptions, onMessage, command, announce }.
// device.js runs one model per Worker and wires it to MQTT.js.

/** A mean-reverting random walk (Ornstein-Uhlenbeck): smooth sensor noise. */
class Drift {
  constructor(value, sigma, theta) {
    this.value = value;
    this.sigma = sigma;
    this.theta = theta;
  }
  step(target) {
    this.value += this.theta * (target - this.value) + this.sigma * gauss();
    return this.value;
  }
}

function gauss() {
  let u = 0;
  let v = 0;
  while (u === 0) u = Math.random();
  while (v === 0) v = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

const between = (a, b) => a + Math.random() * (b - a);
const round = (x, digits) => Number(x.toFixed(digits));
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const TAU = 2 * Math.PI;

/** Telemetry: retained QoS 0 with the device clock and the unit as user properties. */
function telemetry(io, metric, value, unit, digits) {
  io.publish(metric, value.toFixed(digits), {
    qos: 0,
    retain: true,
    properties: { userProperties: { ts: String(io.now()), unit } },
  });
}

/** State: retained QoS 1 JSON. */
function publishState(io, state) {
  io.publish('state', JSON.stringify(state), {
    qos: 1,
    retain: true,
    properties: { contentType: 'application/json', userProperties: { ts: String(io.now()) } },
  });
}

function climate(spec, saved, io) {
  const s = { temp: spec.tempBase, hum: spec.humBase, cookingUntil: 0, ...saved };
  const temp = new Drift(s.temp, 0.025, 0.02);
  const hum = new Drift(s.hum, 0.12, 0.05);
  let heating = false;
  const phase = Math.random() * TAU;
  let n = 0;
  return {
    tickMs: 2000,
    subscriptions: spec.id === 'climate-living' ? ['home/thermostat/state'] : [],
    onMessage(topic, text) {
      if (topic === 'home/thermostat/state') {
        try {
          heating = JSON.parse(text).heating === true;
        } catch { /* not ours to judge */ }
      }
    },
    tick() {
      const now = io.now();
      const slow = Math.sin(TAU * (now / 1_200_000) + phase); // a 20-minute swell
      let tTarget = spec.tempBase + 0.35 * slow;
      let hTarget = spec.humBase + 2.5 * Math.sin(TAU * (now / 900_000) + phase);
      if (spec.id === 'climate-living') {
        // The room cools towards 18.8 °C and warms while the heating runs.
        tTarget = heating ? 24.5 : 18.8 + 0.2 * slow;
        temp.theta = heating ? 0.02 : 0.007;
      }
      if (spec.cooking) {
        if (now > s.cookingUntil && Math.random() < 1 / 140) s.cookingUntil = now + between(70_000, 160_000);
        if (now < s.cookingUntil) {
          tTarget += 2.2;
          hTarget += 17;
        }
      }
      s.temp = temp.step(tTarget);
      s.hum = clamp(hum.step(hTarget), 15, 95);
      telemetry(io, 'temperature', s.temp, '°C', 2);
      telemetry(io, 'humidity', s.hum, '%', 1);
      if (++n % 5 === 0) io.save(s);
    },
    announce() {},
    command: null,
  };
}

function meter(spec, saved, io) {
  const s = { energy: 1.2 + Math.random() * 3, ...saved };
  const lights = new Map(); // device id -> watts now
  let heating = false;
  let fridgeOn = true;
  let fridgeUntil = io.now() + between(60_000, 120_000);
  let kettleUntil = 0;
  const noise = new Drift(0, 4, 0.3);
  const volts = new Drift(230.5, 0.35, 0.1);
  let last = io.now();
  let n = 0;
  const wattsOf = { 'light-living': 60, 'light-kitchen': 40 };
  return {
    tickMs: 2000,
    subscriptions: ['home/+/state'],
    onMessage(topic, text) {
      const id = topic.split('/')[1];
      try {
        const st = JSON.parse(text);
        if (id === 'thermostat') heating = st.heating === true;
        else if (id in wattsOf) lights.set(id, st.on ? (wattsOf[id] * (st.brightness ?? 100)) / 100 : 0);
      } catch { /* ignore */ }
    },
    tick() {
      const now = io.now();
      if (now > fridgeUntil) {
        fridgeOn = !fridgeOn;
        fridgeUntil = now + (fridgeOn ? between(80_000, 140_000) : between(110_000, 220_000));
      }
      if (now > kettleUntil && Math.random() < 1 / 160) kettleUntil = now + between(60_000, 100_000);
      let watts = 124 + (fridgeOn ? 92 : 0) + (heating ? 840 : 0) + (now < kettleUntil ? 1850 : 0);
      for (const w of lights.values()) watts += w;
      watts = Math.max(0, watts + noise.step(0));
      s.energy += (watts * (now - last)) / 3_600_000_000;
      last = now;
      telemetry(io, 'power', watts, 'W', 1);
      if (n % 5 === 0) {
        telemetry(io, 'energy', s.energy, 'kWh', 3);
        telemetry(io, 'voltage', volts.step(230.5), 'V', 1);
        io.save(s);
      }
      n++;
    },
    announce() {},
    command: null,
  };
}

function door(spec, saved, io) {
  const s = { open: false, battery: 87, openings: 0, ...saved };
  let nextAt = io.now() + between(15_000, 40_000);
  const publishContact = () =>
    io.publish('contact', s.open ? 'open' : 'closed', {
      qos: 1,
      retain: true,
      properties: { userProperties: { ts: String(io.now()) } },
    });
  return {
    tickMs: 1000,
    subscriptions: [],
    onMessage() {},
    tick() {
      const now = io.now();
      if (now < nextAt) return;
      s.open = !s.open;
      if (s.open) s.openings++;
      nextAt = now + (s.open ? between(4_000, 11_000) : between(35_000, 90_000));
      publishContact();
      io.save(s);
    },
    announce() {
      publishContact();
      io.publish('battery', String(s.battery), { qos: 1, retain: true, properties: { userProperties: { unit: '%' } } });
    },
    command: null,
  };
}

function light(spec, saved, io) {
  const s = { on: spec.id === 'light-living', brightness: 80, ...saved };
  const state = () => ({ on: s.on, brightness: s.brightness });
  return {
    tickMs: 0,
    subscriptions: [],
    onMessage() {},
    tick() {},
    announce() {
      publishState(io, state());
    },
    /** Applies { on }, { toggle } and/or { brightness }; returns the result. */
    command(cmd) {
      if (cmd === null || typeof cmd !== 'object') return { ok: false, error: 'expected a JSON object' };
      if ('brightness' in cmd) {
        const b = Number(cmd.brightness);
        if (!Number.isFinite(b) || b < 1 || b > 100) return { ok: false, error: 'brightness must be 1..100' };
        s.brightness = Math.round(b);
      }
      if (cmd.toggle) s.on = !s.on;
      else if ('on' in cmd) s.on = cmd.on === true || cmd.on === 'on' || cmd.on === 1;
      io.save(s);
      publishState(io, state());
      return { ok: true, state: state() };
    },
    delayMs: () => between(250, 650),
  };
}

function thermostat(spec, saved, io) {
  const s = { mode: 'heat', setpoint: 21, ...saved };
  let temperature = null;
  let heating = false;
  let lastSent = '';
  let lastSentAt = 0;
  const state = () => ({
    mode: s.mode,
    setpoint: s.setpoint,
    temperature: temperature === null ? null : round(temperature, 1),
    heating,
  });
  const decide = () => {
    if (s.mode !== 'heat' || temperature === null) heating = false;
    else if (temperature < s.setpoint - 0.3) heating = true;
    else if (temperature > s.setpoint + 0.2) heating = false;
  };
  const send = (force) => {
    const st = state();
    const text = JSON.stringify(st);
    if (!force && text === lastSent && io.now() - lastSentAt < 30_000) return;
    lastSent = text;
    lastSentAt = io.now();
    publishState(io, st);
  };
  return {
    tickMs: 5000,
    subscriptions: [`home/${spec.sensor}/temperature`],
    onMessage(topic, text) {
      const t = Number(text);
      if (!Number.isFinite(t)) return;
      temperature = t;
      decide();
      send(false);
    },
    tick() {
      send(false);
    },
    announce() {
      send(true);
    },
    /** Applies { setpoint }, { delta } and/or { mode: 'heat' | 'off' }. */
    command(cmd) {
      if (cmd === null || typeof cmd !== 'object') return { ok: false, error: 'expected a JSON object' };
      let sp = s.setpoint;
      if ('setpoint' in cmd) sp = Number(cmd.setpoint);
      if ('delta' in cmd) sp += Number(cmd.delta);
      if (!Number.isFinite(sp)) return { ok: false, error: 'setpoint must be a number' };
      if ('mode' in cmd) {
        if (cmd.mode !== 'heat' && cmd.mode !== 'off') return { ok: false, error: "mode must be 'heat' or 'off'" };
        s.mode = cmd.mode;
      }
      s.setpoint = clamp(Math.round(sp * 2) / 2, 10, 28);
      decide();
      io.save(s);
      send(true);
      return { ok: true, state: state() };
    },
    delayMs: () => between(400, 800),
  };
}

const FACTORIES = { climate, meter, door, light, thermostat };

export function createModel(spec, saved, io) {
  const factory = FACTORIES[spec.kind];
  if (!factory) throw new Error(`no model for device kind ${spec.kind}`);
  return factory(spec, saved ?? {}, io);
}
