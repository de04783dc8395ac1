// A Server-Sent Events parser over text chunks (the browser reads the status stream with fetch,
// since an EventSource cannot send the Authorization header). Pure: feed chunks, get events.

export type SseEvent = { event: string; data: string; id: string | undefined };

export type SseParser = { push(chunk: string): SseEvent[] };

/** The event stream format of the HTML standard: lines `field: value`, events end at a blank line. */
export function createSseParser(): SseParser {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  const dispatch = (out: SseEvent[]) => {
    if (data.length > 0) out.push({ event: event || 'message', data: data.join('\n'), id });
    event = '';
    data = [];
    id = undefined;
  };
  return {
    push(chunk) {
      buffer += chunk;
      const out: SseEvent[] = [];
      for (;;) {
        const end = buffer.search(/\r\n|\r|\n/);
        if (end === -1) break;
        const line = buffer.slice(0, end);
        buffer = buffer.slice(buffer.startsWith('\r\n', end) ? end + 2 : end + 1);
        if (line === '') {
          dispatch(out);
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') id = value;
      }
      return out;
    },
  };
}
