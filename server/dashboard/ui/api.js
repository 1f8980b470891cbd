// The daemon's API (/v1), as the page uses it: JSON calls, and the two
// streams (the event stream's Server-Sent Events and a job's NDJSON log)
// read with fetch, so that every request carries the bearer token.

// Unauthorized is thrown when the daemon refuses the token (401).
export class Unauthorized extends Error {}

// Problem is an error answer of the API (RFC 9457 problem+json).
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.type = body?.type || "";
  }
}

export class Api {
  constructor(token) {
    this.token = token || "";
  }

  headers(extra) {
    const h = { Accept: "application/json", ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  async request(method, path, { body, signal, accept } = {}) {
    const init = { method, signal, headers: this.headers(accept ? { Accept: accept } : {}), cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const resp = await fetch(path, init);
    if (resp.status === 401) {
      await resp.body?.cancel();
      throw new Unauthorized("the daemon refused the token");
    }
    if (!resp.ok) {
      let problem;
      try { problem = await resp.json(); } catch { problem = undefined; }
      throw new Problem(resp.status, problem);
    }
    return resp;
  }

  async json(method, path, opts) {
    const resp = await this.request(method, path, opts);
    return resp.json();
  }

  get(path, opts) { return this.json("GET", path, opts); }

  // lines calls fn with each line of a streamed answer, until it ends or
  // signal aborts.
  async lines(path, fn, { signal, accept } = {}) {
    const resp = await this.request("GET", path, { signal, accept });
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let partial = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      partial += value;
      let i;
      while ((i = partial.indexOf("\n")) >= 0) {
        fn(partial.slice(0, i).replace(/\r$/, ""));
        partial = partial.slice(i + 1);
      }
    }
    if (partial) fn(partial);
  }

  // logs streams job id's output: fn(stream, text) for each chunk; with
  // follow, until the job ended and its output is all sent.
  logs(id, follow, fn, signal) {
    const path = `/v1/jobs/${encodeURIComponent(id)}/logs${follow ? "?follow=true" : ""}`;
    const utf8 = new TextDecoder();
    return this.lines(path, (line) => {
      if (!line) return;
      const chunk = JSON.parse(line);
      let text = chunk.data;
      if (chunk.encoding === "base64") {
        const bin = atob(chunk.data);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        text = utf8.decode(bytes);
      }
      fn(chunk.stream, text);
    }, { signal, accept: "application/x-ndjson" });
  }

  // events reads the event stream: onOpen once it is open, then
  // fn(event) for each event (its data, parsed), until the stream ends or
  // signal aborts. lastEventID resumes after an event seen before.
  async events(fn, { signal, lastEventID, onOpen } = {}) {
    const headers = this.headers({ Accept: "text/event-stream" });
    if (lastEventID) headers["Last-Event-ID"] = lastEventID;
    const resp = await fetch("/v1/events", { headers, signal, cache: "no-store" });
    if (resp.status === 401) {
      await resp.body?.cancel();
      throw new Unauthorized("the daemon refused the token");
    }
    if (!resp.ok) {
      let problem;
      try { problem = await resp.json(); } catch { problem = undefined; }
      throw new Problem(resp.status, problem);
    }
    onOpen?.();
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let partial = "", id = "", data = [];
    const line = (l) => {
      if (l === "") {
        if (data.length) {
          const ev = JSON.parse(data.join("\n"));
          fn(ev, id);
        }
        id = ""; data = [];
        return;
      }
      if (l.startsWith(":")) return; // a heartbeat
      const i = l.indexOf(":");
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? "" : l.slice(i + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "id") id = value;
      else if (field === "data") data.push(value);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      partial += value;
      let i;
      while ((i = partial.indexOf("\n")) >= 0) {
        line(partial.slice(0, i).replace(/\r$/, ""));
        partial = partial.slice(i + 1);
      }
    }
  }
}
