// A leader's worker that never answers: a broker still restoring (a large
// store) when its tab goes away. Used by failover.test.mjs.
self.onmessage = () => {};
