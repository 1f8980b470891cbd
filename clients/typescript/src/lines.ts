// Reading a streamed answer line by line (NDJSON logs, Server-Sent Events).

/**
 * Yields the lines of a UTF-8 body as they arrive, without their ends
 * (\n, \r\n or \r, as Server-Sent Events allow). A last line without an
 * end is yielded too. It throws what reading the body throws.
 */
export async function* lines(body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  let buf = "";
  let skipLF = false; // the last chunk ended with \r: a \n starting the next one ends nothing
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let start = 0;
    if (skipLF && buf.startsWith("\n")) start = 1;
    skipLF = false;
    for (;;) {
      let end = -1;
      for (let i = start; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c === 10 || c === 13) {
          end = i;
          break;
        }
      }
      if (end < 0) break;
      yield buf.slice(start, end);
      if (buf.charCodeAt(end) === 13) {
        if (end + 1 === buf.length) {
          skipLF = true;
          start = end + 1;
          break;
        }
        if (buf.charCodeAt(end + 1) === 10) end++;
      }
      start = end + 1;
    }
    buf = buf.slice(start);
  }
  buf += decoder.decode();
  if (buf !== "") yield buf;
}
