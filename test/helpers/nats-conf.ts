// A reader for the subset of the NATS server config format that configs/nats/nats.conf uses:
// `key: value`, `key = value` and `key value`; `{}` maps; `[]` arrays; entries separated by
// newlines, commas or semicolons; `#` and `//` comments; quoted and bare strings, integers,
// booleans and `$VARIABLE` references (kept as ConfVariable, not resolved). Enough to compare
// the shipped permissions with the generated ones; nats-server itself validates the whole file.

export class ConfVariable {
  constructor(readonly name: string) {}
}

export type ConfValue = string | number | boolean | ConfVariable | ConfValue[] | ConfMap;
export type ConfMap = { [key: string]: ConfValue };

const BARE_END = /[\s,;}\]#]/;
const KEY_END = /[\s:=,;{}[\]#]/;

export function parseNatsConf(text: string): ConfMap {
  let i = 0;

  const fail = (message: string): never => {
    const line = text.slice(0, i).split('\n').length;
    throw new Error(`nats.conf line ${line}: ${message}`);
  };

  const skip = () => {
    for (;;) {
      const c = text[i];
      if (c === undefined) return;
      if (/[\s,;]/.test(c)) {
        i += 1;
      } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
        while (i < text.length && text[i] !== '\n') i += 1;
      } else {
        return;
      }
    }
  };

  const readQuoted = (): string => {
    const quote = text[i];
    const start = i;
    i += 1;
    while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i += 1;
    const raw = text.slice(start, i);
    return quote === '"' ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };

  const readWhile = (end: RegExp): string => {
    const start = i;
    while (i < text.length && !end.test(text[i]!)) i += 1;
    return text.slice(start, i);
  };

  const readBare = (): ConfValue => {
    const token = readWhile(BARE_END);
    if (token === '') fail(`unexpected "${text[i]}"`);
    if (/^-?\d+$/.test(token)) return Number(token);
    if (token === 'true' || token === 'false') return token === 'true';
    if (token.startsWith('$')) return new ConfVariable(token.slice(1));
    return token;
  };

  const readArray = (): ConfValue[] => {
    i += 1;
    const items: ConfValue[] = [];
    for (;;) {
      skip();
      if (text[i] === undefined) fail('unterminated array');
      if (text[i] === ']') {
        i += 1;
        return items;
      }
      items.push(readValue());
    }
  };

  const readValue = (): ConfValue => {
    const c = text[i];
    if (c === '{') {
      i += 1;
      const map = readMap(true);
      i += 1;
      return map;
    }
    if (c === '[') return readArray();
    if (c === '"' || c === "'") return readQuoted();
    return readBare();
  };

  function readMap(inBraces: boolean): ConfMap {
    const map: ConfMap = {};
    for (;;) {
      skip();
      const c = text[i];
      if (c === undefined) {
        if (inBraces) fail('unterminated block');
        return map;
      }
      if (c === '}') {
        if (!inBraces) fail('unexpected "}"');
        return map;
      }
      const key = c === '"' || c === "'" ? readQuoted() : readWhile(KEY_END);
      if (key === '') fail(`unexpected "${c}"`);
      while (text[i] === ' ' || text[i] === '\t') i += 1;
      if (text[i] === ':' || text[i] === '=') i += 1;
      while (text[i] === ' ' || text[i] === '\t') i += 1;
      if (key in map) fail(`"${key}" is set twice`);
      map[key] = readValue();
    }
  }

  return readMap(false);
}

/** A nats-server size (`1MB`, `64KB`, `1024`): k/m/g are powers of 1000, kb/mb/gb of 1024. */
export function toBytes(value: ConfValue | undefined): number {
  if (typeof value === 'number') return value;
  const match = typeof value === 'string' ? /^(\d+)\s*(k|kb|m|mb|g|gb)?$/i.exec(value) : null;
  if (!match) throw new Error(`not a size: ${String(value)}`);
  const unit = (match[2] ?? '').toLowerCase();
  const factor = { '': 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 }[unit] ?? 1;
  return Number(match[1]) * factor;
}
