// Talking to the server: the REST routes (mitmproxy 12's shapes) and the /updates WebSocket.
// Every URL is relative to the page, so the UI also works behind a path prefix.

function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|;\\s*)" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : undefined;
}

export async function fetchApi(url, options = {}) {
    const opts = { credentials: "same-origin", ...options };
    if (opts.method && opts.method !== "GET") {
        const headers = new Headers(opts.headers);
        const xsrf = cookie("_mitmproxy_xsrf");
        if (xsrf) headers.set("X-XSRFToken", xsrf);
        opts.headers = headers;
    }
    return fetch(url.startsWith("/") ? "." + url : url, opts);
}

async function checked(res) {
    if (!res.ok) {
        let msg = `${res.status} ${res.statusText}`;
        try {
            const body = await res.text();
            if (body) {
                try {
                    const j = JSON.parse(body);
                    msg += ": " + (j.error || j.message || body);
                } catch {
                    msg += ": " + body;
                }
            }
        } catch {
            /* the status says enough */
        }
        throw new Error(msg);
    }
    return res;
}

export async function getJson(url) {
    const res = await checked(await fetchApi(url));
    return res.json();
}

export async function post(url, body) {
    const opts = { method: "POST" };
    if (body !== undefined) {
        opts.headers = { "Content-Type": "application/json" };
        opts.body = JSON.stringify(body);
    }
    return checked(await fetchApi(url, opts));
}

export async function put(url, json) {
    return checked(
        await fetchApi(url, {
            method: "PUT",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(json),
        }),
    );
}

export async function del(url) {
    return checked(await fetchApi(url, { method: "DELETE" }));
}

// POST /commands/<cmd> {arguments}: {value} or {error}.
export async function runCommand(cmd, ...args) {
    const res = await fetchApi(`./commands/${encodeURIComponent(cmd)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ arguments: args.map(String) }),
    });
    let j;
    try {
        j = await res.json();
    } catch {
        j = { error: `${res.status} ${res.statusText}` };
    }
    if (!res.ok && !j.error) j.error = `${res.status} ${res.statusText}`;
    return j;
}

export function contentUrl(flow, part, view, lines) {
    const base = `./flows/${flow.id}/${part}/`;
    if (!view) return base + "content.data";
    return base + `content/${encodeURIComponent(view)}.json` + (lines ? `?lines=${lines}` : "");
}

const FIRST_PAGE = 500;
const PAGE = 5000;
const MAX_PAGES = 10000; // a bound on the loop: 50 million flows

// The live connection: on open, fetch state/flows/events/options while queueing the pushed
// messages for that resource, then apply the queue (as mitmweb's WebsocketBackend).
export class Backend {
    constructor(handlers) {
        this.h = handlers;
        this.queues = {};
        this.retry = 0;
        this.connect();
    }

    connect() {
        const u = new URL("updates", location.href.replace(/[?#].*$/, "").replace(/[^/]*$/, ""));
        u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
        this.h.connection("fetching");
        const ws = new WebSocket(u.href);
        this.ws = ws;
        ws.onopen = () => this.onOpen();
        ws.onmessage = (m) => {
            let msg;
            try {
                msg = JSON.parse(m.data);
            } catch {
                return;
            }
            this.onMessage(msg);
        };
        ws.onclose = (ev) => {
            if (ev.code === 1011 && this.lastFilter && Date.now() - this.lastFilter.t < 5000) this.h.filterRejected(this.lastFilter.name);
            this.lastFilter = null;
            this.h.connection("error", ev.reason || `connection closed (${ev.code})`);
            // reconnect with a bounded back-off; a full refetch follows the new open
            const delay = Math.min(10000, 500 * 2 ** this.retry++);
            setTimeout(() => this.connect(), delay);
        };
    }

    async onOpen() {
        this.retry = 0;
        this.h.resendFilters(); // the server keeps filters per connection
        try {
            await Promise.all(["state", "flows", "events", "options"].map((r) => this.fetch(r)));
            this.h.connection("established");
        } catch (e) {
            this.h.connection("error", String(e.message || e));
        }
    }

    async fetch(resource) {
        const q = [];
        this.queues[resource] = q;
        if (resource === "flows") {
            if (!(await this.fetchFlows(q))) return;
        } else {
            const data = await getJson(`./${resource}`);
            if (this.queues[resource] !== q) return; // superseded by a reset
            this.h.receive(resource, data);
        }
        delete this.queues[resource];
        for (const m of q) this.h.message(m);
    }

    // The flow list in pages (the server's paged /flows: ?offset=&limit= answers
    // {total, offset, flows}): a small first page paints at once, the rest follows in larger
    // pages while the page stays responsive. A server that ignores the parameters answers
    // mitmproxy's plain list, taken whole. Returns false when a reset superseded this fetch.
    async fetchFlows(q) {
        let offset = 0;
        let limit = FIRST_PAGE;
        for (let pages = 0; ; pages++) {
            const data = await getJson(`./flows?offset=${offset}&limit=${limit}`);
            if (this.queues.flows !== q) return false;
            const list = Array.isArray(data) ? data : data.flows || [];
            this.h.receive("flows", list, offset > 0);
            offset += list.length;
            if (Array.isArray(data) || list.length === 0 || offset >= data.total || pages > MAX_PAGES) return true;
            limit = PAGE;
            await new Promise((r) => setTimeout(r, 0)); // let the first rows paint
        }
    }

    onMessage(msg) {
        const resource = msg.type.split("/")[0];
        if (msg.type === "flows/reset") return this.fetch("flows").catch(() => {});
        if (msg.type === "events/reset") return this.fetch("events").catch(() => {});
        const q = this.queues[resource];
        if (q) q.push(msg);
        else this.h.message(msg);
    }

    send(msg) {
        // not open yet: onOpen sends the current filters anyway
        if (this.ws.readyState !== WebSocket.OPEN) return;
        if (msg.type === "flows/updateFilter" && msg.payload.expr) this.lastFilter = { name: msg.payload.name, t: Date.now() };
        this.ws.send(JSON.stringify(msg));
    }
}
