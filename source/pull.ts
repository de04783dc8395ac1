// JetStream ack subjects: what a pulled message's reply subject says about it (pull-feed.ts pulls,
// acks.ts settles). Raw, over core NATS: nats-server here is 2.9 and the source keeps its own
// standing pulls, so nats.js's JsMsg is not involved.

export type AckInfo = {
  stream: string;
  consumer: string;
  /** 1-based: how many times JetStream has delivered this message. */
  deliveryCount: number;
  streamSequence: number;
  consumerSequence: number;
  pending: number;
};

/**
 * Parses a JetStream ack subject, both forms:
 * `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (9 tokens) and
 * `$JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>]`.
 */
export function parseAckSubject(subject: string): AckInfo {
  const tokens = subject.split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens[0] !== '$JS' || tokens[1] !== 'ACK') {
    throw new Error(`not a JetStream ack subject: "${subject}"`);
  }
  const count = (index: number, what: string, min: number): number => {
    const token = tokens[index] ?? '';
    const value = /^\d+$/.test(token) ? Number(token) : NaN;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new Error(`JetStream ack subject "${subject}" has an invalid ${what} "${token}"`);
    }
    return value;
  };
  return {
    stream: tokens[4] ?? '',
    consumer: tokens[5] ?? '',
    deliveryCount: count(6, 'delivery count', 1),
    streamSequence: count(7, 'stream sequence', 1),
    consumerSequence: count(8, 'consumer sequence', 1),
    pending: count(10, 'pending count', 0),
  };
}

