// Unique ids in the NATS "nuid" format (22 base-62 characters: a 12-character random prefix and a
// 10-character sequence that starts at a random point and moves by a random step), for nats.js's
// inbox names and anywhere else an id only has to be unique.
//
// nats-core makes an inbox as it creates a connection, and @nats-io/nuid draws its prefix from
// WebCrypto, whose first use loads node:crypto: 8-10 ms of every process's start
// (docs/performance.md). This module draws it from Math.random instead, as @nats-io/nuid itself
// does where WebCrypto is missing (and as it draws the sequence and step everywhere). V8 seeds
// Math.random from the operating system's entropy when the process starts, so two processes'
// prefixes collide once in 62^12 (about 2^71). An inbox needs no more: who may subscribe to it is
// decided by the NATS permissions (`_INBOX.<user>`: docs/security.md), not by its name being hard to
// guess. The build serves nats-core's `@nats-io/nuid` from here (scripts/build.mjs).
const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BASE = DIGITS.length;
const PREFIX_LENGTH = 12;
const SEQUENCE_LENGTH = 10;
const MIN_STEP = 33;
const MAX_STEP = 333;

function randomBelow(limit: number): number {
  return Math.floor(Math.random() * limit);
}

export class Nuid {
  private prefix = '';
  /** The sequence as base-62 digits, most significant first. */
  private readonly sequence = new Uint8Array(SEQUENCE_LENGTH);
  private step = MIN_STEP;

  constructor() {
    this.reset();
  }

  /** A new prefix, sequence start and step. */
  reset(): void {
    let prefix = '';
    for (let i = 0; i < PREFIX_LENGTH; i += 1) prefix += DIGITS[randomBelow(BASE)];
    this.prefix = prefix;
    for (let i = 0; i < SEQUENCE_LENGTH; i += 1) this.sequence[i] = randomBelow(BASE);
    this.step = MIN_STEP + randomBelow(MAX_STEP - MIN_STEP);
  }

  next(): string {
    let carry = this.step;
    for (let i = SEQUENCE_LENGTH - 1; i >= 0 && carry > 0; i -= 1) {
      const sum = this.sequence[i]! + carry;
      this.sequence[i] = sum % BASE;
      carry = Math.floor(sum / BASE);
    }
    // Past the last sequence number: a new prefix, so no id ever repeats.
    if (carry > 0) this.reset();
    let id = this.prefix;
    for (const digit of this.sequence) id += DIGITS[digit];
    return id;
  }
}

/** The shared instance (nats-core's `nuid`). */
export const nuid = new Nuid();
