// Errors tabmq throws: real Error objects with a `code`.

export class TabmqError extends Error {
  constructor(message, code = 'ERR_TABMQ') {
    super(message);
    this.name = 'TabmqError';
    this.code = code;
  }
}

export function optionError(name, why) {
  return new TabmqError(`tabmq: option \`${name}\` ${why}`, 'ERR_TABMQ_OPTION');
}
