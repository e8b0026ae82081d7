// The simulated home: which devices exist, what they are, and the topics
// they use. Imported by the page (to draw tiles) and by the device workers
// (to simulate). Every device is an MQTT 5 client with a persistent session
// in its own dedicated Worker.
//
// Topics (all under home/<id>/):
//   status        'online' | 'offline'   retained; 'offline' is the device's will
//   info          JSON about the device   retained
//   temperature   °C, every 2 s           retained (climate sensors)
//   humidity      %RH, every 2 s          retained (climate sensors)
//   power         W, every 2 s            retained (power meter)
//   energy        kWh, every 10 s         retained (power meter)
//   voltage       V, every 10 s           retained (power meter)
//   contact       'open' | 'closed'       retained, QoS 1 (door)
//   battery       %                       retained (door)
//   state         JSON                    retained, QoS 1 (lights, thermostat)
//   set           JSON command            QoS 1, MQTT 5 request/response:
//                                        the device answers on the Response
//                                        Topic with the Correlation Data
// Telemetry carries the device's clock as the user property `ts` (ms).
//
// demo/devices/<id>/desired = 'running' | 'stopped' (retained) is what the UI
// asks for; the tab holding the 'tabmq-demo-devices' Web Lock acts on it.

export const BROKER_NAME = 'tabmq-demo';
export const DEVICES_LOCK = 'tabmq-demo-devices';

export const DEVICES = [
  {
    id: 'climate-living', kind: 'climate', name: 'Living room', label: 'Climate sensor', room: 'Living room',
    model: 'Aqara TH-S2', tempBase: 20.4, humBase: 43, color: '#38bdf8',
  },
  {
    id: 'climate-kitchen', kind: 'climate', name: 'Kitchen', label: 'Climate sensor', room: 'Kitchen',
    model: 'Aqara TH-S2', tempBase: 21.6, humBase: 49, color: '#f59e0b', cooking: true,
  },
  {
    id: 'climate-bedroom', kind: 'climate', name: 'Bedroom', label: 'Climate sensor', room: 'Bedroom',
    model: 'Aqara TH-S2', tempBase: 19.1, humBase: 52, color: '#a78bfa',
  },
  {
    id: 'thermostat', kind: 'thermostat', name: 'Thermostat', label: 'Living room heating', room: 'Living room',
    model: 'Nest T-4', sensor: 'climate-living',
  },
  {
    id: 'light-living', kind: 'light', name: 'Floor lamp', label: 'Living room', room: 'Living room',
    model: 'Hue White A60', watts: 60,
  },
  {
    id: 'light-kitchen', kind: 'light', name: 'Ceiling light', label: 'Kitchen', room: 'Kitchen',
    model: 'Hue Ambiance', watts: 40,
  },
  {
    id: 'front-door', kind: 'door', name: 'Front door', label: 'Contact sensor', room: 'Hallway',
    model: 'Aqara DW-2',
  },
  {
    id: 'power-meter', kind: 'meter', name: 'Power meter', label: 'Whole home', room: 'Utility',
    model: 'Shelly EM', color: '#34d399',
  },
];

export const FIRMWARE = '2.4.1';

export const deviceById = (id) => DEVICES.find((d) => d.id === id);

/** Numeric series kept as history (page IndexedDB) and drawn as charts. */
export const SERIES = [
  ...DEVICES.filter((d) => d.kind === 'climate').flatMap((d) => [`${d.id}/temperature`, `${d.id}/humidity`]),
  'power-meter/power',
];

/** The series of a topic `home/<id>/<metric>`, or null. */
export function seriesOf(topic) {
  if (!topic.startsWith('home/')) return null;
  const s = topic.slice(5);
  return SERIES.includes(s) ? s : null;
}
