// reverse: a Taskmanager task handler in TypeScript on node:http, no dependencies.
//
// The worker POSTs each attempt of a `reverse` task here as a binary-mode CloudEvent
// (`ce-type: taskmanager.task.execute`, `ce-subject` = the task id, `ce-attempt`, `ce-deadline`,
// body = the payload) and takes a JSON answer as the task's output. 408, 429 and 5xx mean "try
// again later", any other 4xx "this task cannot succeed" (the body says why).
//
// Run with Node 24, which runs TypeScript as it is (`npx node` is the project's):
//   PORT=8092 npx node examples/handlers/node/reverse.ts
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

type Payload = { text: string };

function answer(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

function isPayload(value: unknown): value is Payload {
  return typeof value === 'object' && value !== null && typeof (value as Payload).text === 'string';
}

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.headers['ce-type'] !== 'taskmanager.task.execute') {
    return answer(res, 400, { error: 'expected a taskmanager.task.execute CloudEvent' });
  }
  let payload: unknown;
  try {
    payload = await readJson(req);
  } catch {
    return answer(res, 400, { error: 'the body is not JSON' });
  }
  // Permanent: another attempt would get the same payload.
  if (!isPayload(payload)) return answer(res, 422, { error: 'payload.text must be a string' });
  answer(res, 200, { reversed: [...payload.text].reverse().join(''), attempt: Number(req.headers['ce-attempt']) });
});

server.listen(Number(process.env.PORT ?? 8092), process.env.HOST ?? '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : '?';
  process.stdout.write(`reverse handler listening on http://${process.env.HOST ?? '127.0.0.1'}:${port}/\n`);
});
process.on('SIGTERM', () => server.close());
