// Helpers for tests that look at events: collect what is published on a subject (a core NATS
// subscription sees every JetStream publish), and POST CloudEvents to a function.
import type { NatsConnection } from '@nats-io/transport-node';
import { toBinaryHeaders } from '../../shared/runtime/http-message';
import type { WireEvent } from '../../shared/events';

export type EventCollector = {
  readonly events: WireEvent[];
  stop(): void;
};

export function collectEvents(nc: NatsConnection, subject: string): EventCollector {
  const events: WireEvent[] = [];
  const sub = nc.subscribe(subject, {
    callback: (_err, msg) => {
      if (msg) events.push(JSON.parse(new TextDecoder().decode(msg.data)) as WireEvent);
    },
  });
  return { events, stop: () => sub.unsubscribe() };
}

export async function postBinary(url: string, event: WireEvent): Promise<Response> {
  return fetch(url, { method: 'POST', headers: toBinaryHeaders(event), body: JSON.stringify(event.data ?? null) });
}

export async function postStructured(url: string, event: WireEvent): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' },
    body: JSON.stringify(event),
  });
}
