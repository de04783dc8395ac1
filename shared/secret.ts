// A credential that cannot end up in a log line by accident: JSON (the logger), string conversion and
// util.inspect all print a placeholder; only `reveal()` hands the value to the one client that
// needs it. Config objects carry secrets as this type, so logging a config is harmless.
const PLACEHOLDER = '[redacted]';

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return PLACEHOLDER;
  }

  toJSON(): string {
    return PLACEHOLDER;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Secret(${PLACEHOLDER})`;
  }
}

/** A URL as text with its password (and any username) replaced, for messages and logs. */
export function toRedactedUrl(text: string): string {
  try {
    const url = new URL(text);
    if (!url.username && !url.password) return text;
    if (url.password) url.password = 'REDACTED';
    return url.toString();
  } catch {
    // Not a URL: userinfo may still be in there; cut everything before the last '@'.
    const at = text.lastIndexOf('@');
    return at === -1 ? text : `[redacted]@${text.slice(at + 1)}`;
  }
}
