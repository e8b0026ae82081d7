export default {
  // Module workers that import other modules need ES-format worker chunks.
  worker: { format: 'es' },
  build: { target: 'es2022' },
  logLevel: 'warn',
};
