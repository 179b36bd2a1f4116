// The flow details pane: mitmweb's tabs per flow type, and editing of a request or response
// (method, URL, version, status, reason, headers, body) sent as one PUT /flows/<id>.
import { useState } from "preact/hooks";
import { html, cls } from "./html.js";
import { S, set, act, notify, clearSelection } from "./store.js";
import { fetchApi, contentUrl } from "./api.js";
import { Body, Messages } from "./content.js";
import * as u from "./util.js";

export function tabsFor(f) {
    if (!f) return [];
    const t = [];
    if (f.type === "http") {
        t.push("request");
        if (f.response) t.push("response");
        if (f.websocket) t.push("websocket");
    } else if (f.type === "tcp") t.push("tcpmessages");
    else if (f.type === "udp") t.push("udpmessages");
    else if (f.type === "dns") {
        t.push("request");
        if (f.response) t.push("response");
    }
    if (f.error) t.push("error");
    t.push("connection", "timing", "comment");
    return t;
}

const TAB_NAMES = {
    request: "Request",
    response: "Response",
    websocket: "WebSocket",
    tcpmessages: "TCP Messages",
    udpmessages: "UDP Messages",
    error: "Error",
    connection: "Connection",
    timing: "Timing",
    comment: "Comment",
};

export function currentTab(f) {
    const tabs = tabsFor(f);
    return tabs.includes(S.detailTab) ? S.detailTab : tabs[0];
}

export function FlowView({ flow }) {
    const tabs = tabsFor(flow);
    const tab = currentTab(flow);
    let body;
    switch (tab) {
        case "request":
        case "response":
            body = flow.type === "dns" ? html`<${Dns} flow=${flow} part=${tab} />` : html`<${HttpMessage} key=${flow.id + tab} flow=${flow} part=${tab} />`;
            break;
        case "websocket":
            body = html`<div>
                ${flow.websocket.timestamp_end &&
                html`<div class="ws-close">Closed by ${flow.websocket.closed_by_client ? "client" : "server"} with code ${flow.websocket.close_code}
                    ${flow.websocket.close_reason}</div>`}
                <${Messages} flow=${flow} /></div>`;
            break;
        case "tcpmessages":
        case "udpmessages":
            body = html`<${Messages} flow=${flow} />`;
            break;
        case "error":
            body = html`<div class="error-tab"><div class="error-text">${flow.error.msg}</div>
                <div class="muted">${u.formatTimeStamp(flow.error.timestamp)}</div></div>`;
            break;
        case "connection":
            body = html`<${Connection} flow=${flow} />`;
            break;
        case "timing":
            body = html`<${Timing} flow=${flow} />`;
            break;
        case "comment":
            body = html`<${Comment} key=${flow.id} flow=${flow} />`;
            break;
    }
    return html`<div class="flow-view" data-flow=${flow.id}>
        <nav class="detail-tabs">
            ${tabs.map((t) => html`<a href="#" key=${t} data-tab=${t} class=${cls(t === tab && "active")}
                onClick=${(e) => (e.preventDefault(), set({ detailTab: t }))}>${TAB_NAMES[t]}</a>`)}
            <a href="#" class="close" title="Close (Esc)" onClick=${(e) => (e.preventDefault(), clearSelection())}>✕</a>
        </nav>
        <div class="detail-body">${body}</div>
    </div>`;
}

function Headers({ headers, title = "Headers" }) {
    if (!headers || !headers.length) return html`<div class="muted">No ${title.toLowerCase()}.</div>`;
    return html`<table class="headers"><tbody>
        ${headers.map(([k, v], i) => html`<tr key=${i}><td class="header-name">${k}:</td><td class="header-value">${v}</td></tr>`)}
    </tbody></table>`;
}

function firstLine(flow, part) {
    if (part === "request") {
        const r = flow.request;
        return html`<div class="first-line"><span class="method">${r.method}</span> <span class="url">${u.prettyUrl(r)}</span> <span class="version">${r.http_version}</span></div>`;
    }
    const r = flow.response;
    return html`<div class="first-line"><span class="version">${r.http_version}</span> <span class=${"status " + u.statusClass(r.status_code)}>${r.status_code}</span> <span class="reason">${r.reason}</span></div>`;
}

function HttpMessage({ flow, part }) {
    const [edit, setEdit] = useState(null);
    const msg = flow[part];
    if (edit) return html`<${Editor} flow=${flow} part=${part} draft=${edit} done=${() => setEdit(null)} />`;
    const startEdit = async () => {
        let body = "";
        if (msg.contentLength) {
            const r = await fetchApi(contentUrl(flow, part));
            body = r.ok ? await r.text() : "";
        }
        const d = { headers: msg.headers.map(([k, v]) => [k, v]), body, origBody: body, http_version: msg.http_version };
        if (part === "request") Object.assign(d, { method: msg.method, url: u.prettyUrl(msg) });
        else Object.assign(d, { code: String(msg.status_code), reason: msg.reason });
        setEdit(d);
    };
    return html`<section class=${"http-message " + part}>
        <div class="message-toolbar">
            <button class="btn btn-small edit-button" onClick=${startEdit} title="Edit this ${part}">✎ Edit</button>
            ${flow.intercepted && html`<button class="btn btn-small btn-primary" onClick=${() => act.resume([flow])}>▶ Resume</button>`}
        </div>
        ${firstLine(flow, part)}
        <${Headers} headers=${msg.headers} />
        ${msg.trailers && msg.trailers.length ? html`<h4>Trailers</h4><${Headers} headers=${msg.trailers} title="Trailers" />` : ""}
        <hr />
        <${Body} flow=${flow} part=${part} message=${msg} />
    </section>`;
}

function parseUrl(s) {
    let url;
    try {
        url = new URL(s);
    } catch {
        throw new Error(`not a URL: ${s}`);
    }
    const scheme = url.protocol.replace(":", "");
    if (scheme !== "http" && scheme !== "https") throw new Error(`scheme must be http or https, not ${scheme}`);
    return {
        scheme,
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port ? Number(url.port) : scheme === "https" ? 443 : 80,
        path: url.pathname + url.search,
    };
}

function Editor({ flow, part, draft, done }) {
    const [d, setD] = useState(draft);
    const [busy, setBusy] = useState(false);
    const upd = (patch) => setD({ ...d, ...patch });
    const setHeader = (i, j, v) => {
        const h = d.headers.map((x) => x.slice());
        h[i][j] = v;
        upd({ headers: h });
    };
    const save = async () => {
        let m;
        try {
            const headers = d.headers.filter(([k]) => k.trim() !== "");
            m = { headers, http_version: d.http_version };
            if (part === "request") Object.assign(m, { method: d.method }, parseUrl(d.url));
            else {
                const code = Number(d.code);
                if (!Number.isInteger(code) || code < 100 || code > 999) throw new Error(`invalid status code: ${d.code}`);
                Object.assign(m, { code, reason: d.reason });
            }
            if (d.body !== d.origBody) m.content = d.body;
        } catch (e) {
            return notify(e.message);
        }
        setBusy(true);
        try {
            await act.update(flow, { [part]: m });
            done();
        } catch (e) {
            notify(e.message);
        } finally {
            setBusy(false);
        }
    };
    return html`<form class="editor" onSubmit=${(e) => (e.preventDefault(), save())}>
        <div class="editor-line">
            ${part === "request"
                ? html`<input class="edit-method" name="method" value=${d.method} size="7" onInput=${(e) => upd({ method: e.currentTarget.value })} />
                    <input class="edit-url" name="url" value=${d.url} onInput=${(e) => upd({ url: e.currentTarget.value })} />
                    <input class="edit-version" name="http_version" value=${d.http_version} size="8" onInput=${(e) => upd({ http_version: e.currentTarget.value })} />`
                : html`<input class="edit-version" name="http_version" value=${d.http_version} size="8" onInput=${(e) => upd({ http_version: e.currentTarget.value })} />
                    <input class="edit-code" name="code" value=${d.code} size="4" onInput=${(e) => upd({ code: e.currentTarget.value })} />
                    <input class="edit-reason" name="reason" value=${d.reason} onInput=${(e) => upd({ reason: e.currentTarget.value })} />`}
        </div>
        <table class="headers edit-headers"><tbody>
            ${d.headers.map(
                ([k, v], i) => html`<tr key=${i} data-header=${k}>
                <td><input class="header-name-input" value=${k} onInput=${(e) => setHeader(i, 0, e.currentTarget.value)} /></td>
                <td><input class="header-value-input" value=${v} onInput=${(e) => setHeader(i, 1, e.currentTarget.value)} /></td>
                <td><button type="button" class="btn btn-small" title="Remove header"
                    onClick=${() => upd({ headers: d.headers.filter((_, j) => j !== i) })}>✕</button></td></tr>`,
            )}
        </tbody></table>
        <button type="button" class="btn btn-small add-header" onClick=${() => upd({ headers: [...d.headers, ["", ""]] })}>+ Header</button>
        <textarea class="edit-body" name="body" rows="8" spellcheck=${false} value=${d.body} onInput=${(e) => upd({ body: e.currentTarget.value })}></textarea>
        <div class="editor-buttons">
            <button type="submit" class="btn btn-primary save-edit" disabled=${busy}>Save</button>
            <button type="button" class="btn" onClick=${done}>Cancel</button>
        </div>
    </form>`;
}

function Dns({ flow, part }) {
    const m = flow[part];
    if (!m) return html`<div class="muted">None.</div>`;
    const rows = (list) =>
        (list || []).map((q, i) => html`<tr key=${i}><td>${q.name}</td><td>${q.type}</td><td>${q.class}</td><td>${q.data || ""}</td><td>${q.ttl || ""}</td></tr>`);
    return html`<section><h4>Questions</h4><table class="table"><tbody>${rows(m.questions)}</tbody></table>
        ${part === "response" && html`<h4>Answers</h4><table class="table"><tbody>${rows(m.answers)}</tbody></table>`}</section>`;
}

function ConnInfo({ title, conn, server }) {
    if (!conn) return "";
    const rows = [];
    const row = (k, v) => v !== undefined && v !== null && v !== "" && rows.push(html`<tr><td>${k}</td><td>${v}</td></tr>`);
    if (server) row("Address", u.formatAddress(conn.address));
    row(server ? "Resolved address" : "Address", u.formatAddress(conn.peername));
    if (!server) row("Local address", u.formatAddress(conn.sockname));
    row("TLS version", conn.tls_version);
    row(server ? "SNI" : "Server name indication", conn.sni);
    row("ALPN", conn.alpn);
    row("Cipher", conn.cipher);
    const c = conn.cert;
    return html`<section class="conn-info"><h4>${title}</h4><table class="table"><tbody>${rows}</tbody></table>
        ${c &&
        html`<h5>${server ? "Server" : "Client"} certificate</h5><table class="table"><tbody>
            <tr><td>Subject</td><td>${(c.subject || []).map(([k, v]) => `${k}=${v}`).join(", ")}</td></tr>
            <tr><td>Issuer</td><td>${(c.issuer || []).map(([k, v]) => `${k}=${v}`).join(", ")}</td></tr>
            <tr><td>Valid</td><td>${new Date(c.notbefore * 1000).toISOString()} – ${new Date(c.notafter * 1000).toISOString()}</td></tr>
            <tr><td>Alt names</td><td>${(c.altnames || []).join(", ")}</td></tr>
            <tr><td>Serial</td><td>${c.serial}</td></tr>
            <tr><td>SHA-256</td><td class="mono">${c.sha256}</td></tr>
            <tr><td>Key</td><td>${(c.keyinfo || []).join(" ")}</td></tr>
        </tbody></table>`}</section>`;
}

function Connection({ flow }) {
    return html`<div class="connection">
        <${ConnInfo} title="Client Connection" conn=${flow.client_conn} />
        <${ConnInfo} title="Server Connection" conn=${flow.server_conn} server=${true} />
    </div>`;
}

function Timing({ flow }) {
    const c = flow.client_conn || {};
    const s = flow.server_conn || {};
    const t = [
        ["Server conn. initiated", s.timestamp_start],
        ["Server conn. TCP handshake", s.timestamp_tcp_setup],
        ["Server conn. TLS handshake", s.timestamp_tls_setup],
        ["Server conn. closed", s.timestamp_end],
        ["Client conn. established", c.timestamp_start],
        ["Client conn. TLS handshake", c.timestamp_tls_setup],
        ["Client conn. closed", c.timestamp_end],
    ];
    if (flow.type === "http") {
        t.push(
            ["First request byte", flow.request.timestamp_start],
            ["Request complete", flow.request.timestamp_end],
        );
        if (flow.response)
            t.push(
                ["First response byte", flow.response.timestamp_start],
                ["Response complete", flow.response.timestamp_end],
            );
        if (flow.websocket) t.push(["WebSocket closed", flow.websocket.timestamp_end]);
    }
    const rows = t.filter(([, v]) => v).sort((a, b) => a[1] - b[1]);
    return html`<section class="timing"><h4>Timing</h4><table class="table"><tbody>
        ${rows.map(([k, v]) => html`<tr><td>${k}:</td><td>${u.formatTimeStamp(v)}</td></tr>`)}
    </tbody></table></section>`;
}

function Comment({ flow }) {
    const [text, setText] = useState(flow.comment || "");
    const save = () => act.update(flow, { comment: text }).catch((e) => notify(e.message));
    return html`<section class="comment">
        <textarea class="comment-input" rows="5" placeholder="Add a comment" value=${text} onInput=${(e) => setText(e.currentTarget.value)}></textarea>
        <button class="btn btn-primary" onClick=${save} disabled=${text === (flow.comment || "")}>Save comment</button>
    </section>`;
}
