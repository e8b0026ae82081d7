// A line-oriented oracle around mqtt-packet, the codec MQTT.js uses, for the
// differential test in tests/codec_differential.rs.
//
// Reads one JSON request per line on stdin and writes one JSON answer per
// line on stdout. Binary data travels as lowercase hex. Requests:
//
//   {"op":"roundtrip","version":V,"hex":H}
//       Parse H with mqtt.parser({protocolVersion: V}); it must hold exactly
//       one packet. Generate it again with mqtt.generate(packet, {protocolVersion: V}).
//       -> {"ok":true,"hex":H2,"packet":{...}}
//   {"op":"parse","version":V,"hex":H}
//       -> {"ok":true,"packet":{...}}
//   {"op":"compare","version":V,"a":H1,"b":H2}
//       Parse both; deep-compare the packets, ignoring `length` (the
//       remaining length: two encodings of one packet may differ in size, e.g.
//       an omitted Success reason code).
//       -> {"ok":true,"equal":bool,"a":{...},"b":{...}}
//   {"op":"generate","version":V,"seed":N,"count":K}
//       K random valid packets of every type built as mqtt-packet objects,
//       with random MQTT 5 properties where the packet may carry them,
//       generated to bytes by mqtt-packet.
//       -> {"ok":true,"packets":[{"cmd":C,"hex":H}, ...]}
//
// Failures answer {"ok":false,"stage":S,"error":message}, where S is
// "request", "parse" or "generate".
//
// Run from the crate root (node_modules/ must hold mqtt-packet).

import mqtt from 'mqtt-packet'
import { createInterface } from 'node:readline'
import { isDeepStrictEqual } from 'node:util'

// ---------------------------------------------------------------------------
// Parsing and generating with mqtt-packet

class OracleError extends Error {
  constructor (stage, message) {
    super(message)
    this.stage = stage
  }
}

function parseOne (version, hex) {
  const bytes = Buffer.from(hex, 'hex')
  const parser = mqtt.parser({ protocolVersion: version })
  const packets = []
  const errors = []
  parser.on('packet', (p) => packets.push(p))
  parser.on('error', (e) => errors.push(e.message))
  const left = parser.parse(bytes)
  if (errors.length) throw new OracleError('parse', errors.join('; '))
  if (packets.length !== 1) {
    throw new OracleError('parse', `expected one packet, got ${packets.length} (${left} bytes left)`)
  }
  if (left !== 0) throw new OracleError('parse', `${left} bytes left after the packet`)
  return packets[0]
}

function generate (version, packet) {
  let out
  try {
    out = mqtt.generate(packet, { protocolVersion: version })
  } catch (e) {
    throw new OracleError('generate', e.message)
  }
  // Some refusals return without an error and leave nothing written.
  if (!out || out.length === 0) throw new OracleError('generate', 'generated no bytes')
  return out
}

/** A parsed packet as JSON: Buffers as {"hex": "..."}. */
function toPlain (packet) {
  return JSON.parse(JSON.stringify(packet, (key, value) => {
    if (value && value.type === 'Buffer' && Array.isArray(value.data)) {
      return { hex: Buffer.from(value.data).toString('hex') }
    }
    return value
  }))
}

function withoutLength (packet) {
  const copy = { ...packet }
  delete copy.length
  return copy
}

// ---------------------------------------------------------------------------
// Random valid packets (seeded, so a failing seed can be replayed)

function rng (seed) {
  // mulberry32
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function makeRandom (seed) {
  const next = rng(seed)
  const R = {
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // inclusive
    bool: (p = 0.5) => next() < p,
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    // Values at the edges of a range, or uniform ones.
    num: (lo, hi) => R.bool(0.3) ? R.pick([lo, Math.min(lo + 1, hi), hi, Math.max(hi - 1, lo)]) : R.int(lo, hi),
    buffer: (max = 32) => {
      const b = Buffer.alloc(R.int(0, max))
      for (let i = 0; i < b.length; i++) b[i] = R.int(0, 255)
      return b
    },
    // Unicode without U+0000 and without surrogates: ASCII, two-, three- and
    // four-byte UTF-8, sometimes empty.
    string: (max = 10) => {
      if (R.bool(0.1)) return ''
      const n = R.int(1, max)
      let s = ''
      for (let i = 0; i < n; i++) s += R.char()
      return s
    },
    char: () => {
      switch (R.int(0, 4)) {
        case 0:
        case 1: return String.fromCodePoint(R.int(0x20, 0x7e))
        case 2: return String.fromCodePoint(R.int(0x01, 0x7ff))
        case 3: return String.fromCodePoint(R.pick([R.int(0x800, 0xd7ff), R.int(0xe000, 0xffff)]))
        default: return String.fromCodePoint(R.int(0x10000, 0x10ffff))
      }
    },
    // One topic level: no '/', '+', '#' or U+0000.
    level: () => {
      if (R.bool(0.15)) return ''
      let s = ''
      const n = R.int(1, 5)
      while (s.length < n) {
        const c = R.bool(0.6) ? R.pick('abcxyz0129_-$. é€😀'.split(/(?:)/u)) : R.char()
        if (!'/+#'.includes(c)) s += c
      }
      return s
    },
    topicName: () => {
      const levels = Array.from({ length: R.int(1, 4) }, R.level)
      const t = levels.join('/')
      return t === '' ? 't' : t
    },
    plainFilter: () => {
      const levels = Array.from({ length: R.int(0, 3) }, () => R.bool(0.25) ? '+' : R.level())
      if (levels.length === 0 || R.bool(0.3)) levels.push('#')
      const f = levels.join('/')
      return f === '' || f.startsWith('$share/') ? '+' : f
    },
    topicFilter: () => {
      if (R.bool(0.2)) {
        let group = R.level()
        if (group === '') group = 'g'
        return `$share/${group}/${R.plainFilter()}`
      }
      return R.plainFilter()
    },
    messageId: () => R.num(1, 65535),
    qos: () => R.int(0, 2)
  }
  return R
}

// Reason codes by packet, from the MQTT 5.0 specification (3.2.2.2, 3.4.2.1,
// 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
const REASONS = {
  connack: [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90,
    0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f],
  puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrel: [0x00, 0x92],
  pubcomp: [0x00, 0x92],
  suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93,
    0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2],
  auth: [0x00, 0x18, 0x19]
}

// Properties each packet may carry (spec 2.2.2.2, table 2-4), with a
// generator of valid values for each, in mqtt-packet's names.
function propertyValues (R) {
  const u32 = () => R.num(0, 0xffffffff)
  const u16 = () => R.num(0, 0xffff)
  return {
    payloadFormatIndicator: () => R.bool(),
    messageExpiryInterval: u32,
    contentType: () => R.string(),
    responseTopic: () => R.topicName(),
    correlationData: () => R.buffer(),
    subscriptionIdentifier: () => R.num(1, 268435455),
    sessionExpiryInterval: u32,
    assignedClientIdentifier: () => R.string(),
    serverKeepAlive: u16,
    authenticationMethod: () => R.string(),
    authenticationData: () => R.buffer(),
    requestProblemInformation: () => R.bool(),
    willDelayInterval: u32,
    requestResponseInformation: () => R.bool(),
    responseInformation: () => R.string(),
    serverReference: () => R.string(),
    reasonString: () => R.string(),
    receiveMaximum: () => R.num(1, 0xffff),
    topicAliasMaximum: u16,
    topicAlias: () => R.num(1, 0xffff),
    maximumQoS: () => R.int(0, 1),
    retainAvailable: () => R.bool(),
    userProperties: () => {
      // Names sometimes repeat: mqtt-packet then holds an array of values.
      const props = Object.create(null)
      const n = R.int(1, 4)
      for (let i = 0; i < n; i++) {
        const name = R.bool(0.4) ? R.pick(['a', 'b', 'x-y', 'ü']) : R.string(6)
        const value = R.string(8)
        if (name in props) {
          props[name] = [].concat(props[name], value)
        } else {
          props[name] = value
        }
      }
      return props
    },
    maximumPacketSize: () => R.num(1, 0xffffffff),
    wildcardSubscriptionAvailable: () => R.bool(),
    subscriptionIdentifiersAvailable: () => R.bool(),
    sharedSubscriptionAvailable: () => R.bool()
  }
}

const ALLOWED = {
  connect: ['sessionExpiryInterval', 'authenticationMethod', 'authenticationData',
    'requestProblemInformation', 'requestResponseInformation', 'receiveMaximum',
    'topicAliasMaximum', 'userProperties', 'maximumPacketSize'],
  will: ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic',
    'correlationData', 'willDelayInterval', 'userProperties'],
  connack: ['sessionExpiryInterval', 'assignedClientIdentifier', 'serverKeepAlive',
    'authenticationMethod', 'authenticationData', 'responseInformation', 'serverReference',
    'reasonString', 'receiveMaximum', 'topicAliasMaximum', 'maximumQoS', 'retainAvailable',
    'userProperties', 'maximumPacketSize', 'wildcardSubscriptionAvailable',
    'subscriptionIdentifiersAvailable', 'sharedSubscriptionAvailable'],
  publish: ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic',
    'correlationData', 'subscriptionIdentifier', 'topicAlias', 'userProperties'],
  puback: ['reasonString', 'userProperties'],
  pubrec: ['reasonString', 'userProperties'],
  pubrel: ['reasonString', 'userProperties'],
  pubcomp: ['reasonString', 'userProperties'],
  subscribe: ['subscriptionIdentifier', 'userProperties'],
  suback: ['reasonString', 'userProperties'],
  unsubscribe: ['userProperties'],
  unsuback: ['reasonString', 'userProperties'],
  disconnect: ['sessionExpiryInterval', 'serverReference', 'reasonString', 'userProperties'],
  auth: ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties']
}

/** Random properties for `scope`, or undefined (none). */
function randomProperties (R, values, scope) {
  if (R.bool(0.3)) return undefined
  const props = {}
  for (const name of ALLOWED[scope]) {
    if (!R.bool(0.35)) continue
    props[name] = values[name]()
  }
  // PUBLISH may carry several Subscription Identifiers (spec 3.3.2.3.8).
  if (scope === 'publish' && props.subscriptionIdentifier !== undefined && R.bool(0.3)) {
    props.subscriptionIdentifier = [props.subscriptionIdentifier, values.subscriptionIdentifier()]
  }
  return props
}

function randomPacket (R, version, cmd) {
  const v5 = version === 5
  const values = propertyValues(R)
  const props = (scope) => v5 ? randomProperties(R, values, scope) : undefined
  const withProps = (packet, scope) => {
    const p = props(scope)
    if (p !== undefined) packet.properties = p
    return packet
  }
  switch (cmd) {
    case 'connect': {
      const packet = {
        cmd,
        protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clean: R.bool(),
        keepalive: R.num(0, 0xffff),
        clientId: R.string(12)
      }
      // mqtt-packet refuses an empty client id before 3.1.1 and without a
      // clean session; 3.1 requires one [3.1 spec], 3.1.1 requires clean
      // session with it [MQTT-3.1.3-7].
      if (packet.clientId === '' && (version === 3 || !packet.clean)) packet.clientId = 'c'
      if (R.bool()) {
        packet.will = {
          topic: R.topicName(),
          payload: R.buffer(),
          qos: R.qos(),
          retain: R.bool()
        }
        const wp = props('will')
        if (wp !== undefined) packet.will.properties = wp
      }
      if (R.bool()) {
        packet.username = R.string()
        // mqtt-packet needs a user name for a password, in every version.
        if (R.bool()) packet.password = R.buffer()
      }
      return withProps(packet, 'connect')
    }
    case 'connack': {
      const packet = { cmd }
      if (v5) {
        packet.reasonCode = R.pick(REASONS.connack)
        packet.sessionPresent = packet.reasonCode === 0 && R.bool()
      } else {
        packet.returnCode = R.int(0, 5)
        packet.sessionPresent = packet.returnCode === 0 && R.bool()
      }
      return withProps(packet, 'connack')
    }
    case 'publish': {
      const qos = R.qos()
      const packet = {
        cmd,
        topic: R.topicName(),
        payload: R.buffer(64),
        qos,
        dup: qos > 0 && R.bool(),
        retain: R.bool()
      }
      if (qos > 0) packet.messageId = R.messageId()
      withProps(packet, 'publish')
      // An empty topic name stands for a topic alias [MQTT-3.3.2-1].
      if (v5 && packet.properties && packet.properties.topicAlias !== undefined && R.bool(0.5)) {
        packet.topic = ''
      }
      return packet
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const packet = { cmd, messageId: R.messageId() }
      if (v5) packet.reasonCode = R.pick(REASONS[cmd])
      return withProps(packet, cmd)
    }
    case 'subscribe': {
      const subscriptions = Array.from({ length: R.int(1, 4) }, () => {
        const topic = R.topicFilter()
        const sub = { topic, qos: R.qos() }
        if (v5) {
          // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
          sub.nl = !topic.startsWith('$share/') && R.bool()
          sub.rap = R.bool()
          sub.rh = R.int(0, 2)
        }
        return sub
      })
      return withProps({ cmd, messageId: R.messageId(), subscriptions }, 'subscribe')
    }
    case 'suback': {
      const codes = v5 ? REASONS.suback : [0, 1, 2, 0x80]
      const granted = Array.from({ length: R.int(1, 4) }, () => R.pick(codes))
      return withProps({ cmd, messageId: R.messageId(), granted }, 'suback')
    }
    case 'unsubscribe': {
      const unsubscriptions = Array.from({ length: R.int(1, 4) }, () => R.topicFilter())
      return withProps({ cmd, messageId: R.messageId(), unsubscriptions }, 'unsubscribe')
    }
    case 'unsuback': {
      const packet = { cmd, messageId: R.messageId() }
      if (v5) packet.granted = Array.from({ length: R.int(1, 4) }, () => R.pick(REASONS.unsuback))
      return withProps(packet, 'unsuback')
    }
    case 'pingreq':
    case 'pingresp':
      return { cmd }
    case 'disconnect': {
      const packet = { cmd }
      if (v5) packet.reasonCode = R.pick(REASONS.disconnect)
      return withProps(packet, 'disconnect')
    }
    case 'auth':
      return withProps({ cmd, reasonCode: R.pick(REASONS.auth) }, 'auth')
    default:
      throw new OracleError('request', `unknown cmd ${cmd}`)
  }
}

const COMMANDS = ['connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp',
  'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect']

function generateRandom (version, seed, count) {
  const R = makeRandom(seed)
  const cmds = version === 5 ? [...COMMANDS, 'auth'] : COMMANDS
  const packets = []
  for (let i = 0; i < count; i++) {
    const cmd = cmds[i % cmds.length]
    const packet = randomPacket(R, version, cmd)
    const bytes = generate(version, packet)
    packets.push({ cmd, hex: bytes.toString('hex') })
  }
  return packets
}

// ---------------------------------------------------------------------------
// Request loop

function checkVersion (version) {
  if (![3, 4, 5].includes(version)) throw new OracleError('request', `bad version ${version}`)
  return version
}

function handle (req) {
  const version = checkVersion(req.version)
  switch (req.op) {
    case 'parse':
      return { ok: true, packet: toPlain(parseOne(version, req.hex)) }
    case 'roundtrip': {
      const packet = parseOne(version, req.hex)
      const plain = toPlain(packet)
      const bytes = generate(version, packet)
      return { ok: true, hex: bytes.toString('hex'), packet: plain }
    }
    case 'compare': {
      const a = parseOne(version, req.a)
      let b
      try {
        b = parseOne(version, req.b)
      } catch (e) {
        e.message = `second packet: ${e.message}`
        throw e
      }
      const equal = isDeepStrictEqual(withoutLength(a), withoutLength(b))
      return { ok: true, equal, a: toPlain(a), b: toPlain(b) }
    }
    case 'generate':
      return { ok: true, packets: generateRandom(version, req.seed, req.count) }
    default:
      throw new OracleError('request', `unknown op ${req.op}`)
  }
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (line.trim() === '') continue
  let answer
  try {
    answer = handle(JSON.parse(line))
  } catch (e) {
    answer = { ok: false, stage: e.stage || 'request', error: String(e.message) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
