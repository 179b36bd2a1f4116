// Message bodies through the server's content views (GET …/content/<view>.json), the view
// selector, "show all" past the line cut-off, download and upload of the raw body.
import { useEffect, useState } from "preact/hooks";
import { html } from "./html.js";
import { S, set, notify } from "./store.js";
import { fetchApi, contentUrl } from "./api.js";

// one small cache so switching tabs does not refetch; keyed by URL and content hash
const cache = new Map();

export function useFetched(url, hash) {
    const key = url + "#" + (hash || "");
    const [state, setState] = useState(() => cache.get(key));
    useEffect(() => {
        let live = true;
        if (cache.has(key)) {
            setState(cache.get(key));
            return;
        }
        setState(undefined);
        fetchApi(url)
            .then(async (r) => {
                const text = await r.text();
                return r.ok ? { ok: true, text } : { ok: false, text: `${r.status} ${r.statusText}: ${text}` };
            })
            .catch((e) => ({ ok: false, text: String(e.message || e) }))
            .then((v) => {
                if (cache.size > 200) cache.clear();
                if (v.ok) cache.set(key, v);
                if (live) setState(v);
            });
        return () => {
            live = false;
        };
    }, [key]);
    return state;
}

export function lineCutoff() {
    const o = S.options.content_view_lines_cutoff;
    return (o && o.value) || 512;
}

// the server's name for the automatic view ("auto" in mitmproxy 12, "Auto" before)
function autoView() {
    const views = S.backendState.contentViews || [];
    return views.find((v) => v.toLowerCase() === "auto") || views[0] || "auto";
}

export function currentView(part) {
    return S.contentView[part] || autoView();
}

export function ViewSelector({ part }) {
    const views = S.backendState.contentViews || ["auto", "raw"];
    const cur = currentView(part);
    return html`<label class="view-selector">View:
        <select value=${cur} onChange=${(e) => set({ contentView: { ...S.contentView, [part]: e.currentTarget.value } })}>
            ${views.map((v) => html`<option value=${v}>${v}</option>`)}
        </select></label>`;
}

function UploadButton({ flow, part }) {
    const onChange = async (e) => {
        const file = e.currentTarget.files[0];
        if (!file) return;
        const fd = new FormData();
        fd.append("file", file);
        const r = await fetchApi(contentUrl(flow, part), { method: "POST", body: fd });
        if (!r.ok) notify(`upload failed: ${r.status} ${await r.text()}`);
        e.currentTarget.value = "";
    };
    return html`<label class="btn btn-small" title="Replace the body with a file">Upload
        <input type="file" hidden onChange=${onChange} /></label>`;
}

export function Body({ flow, part, message }) {
    const [all, setAll] = useState(false);
    const view = currentView(part);
    const cutoff = lineCutoff();
    const url = contentUrl(flow, part, view, all ? undefined : cutoff + 1);
    const data = useFetched(url, message.contentHash);
    const len = message.contentLength;
    let body;
    if (len === null || len === undefined) body = html`<div class="muted">No content (stripped).</div>`;
    else if (len === 0) body = html`<div class="muted">No content.</div>`;
    else if (!data) body = html`<div class="muted">Loading…</div>`;
    else if (!data.ok) body = html`<div class="error-text">${data.text}</div>`;
    else {
        let cv;
        try {
            cv = JSON.parse(data.text);
        } catch {
            cv = { text: data.text, description: "not JSON", view_name: "raw" };
        }
        const lines = cv.text.split("\n");
        const cut = !all && lines.length > cutoff;
        body = html`<div class="content-view">
            <div class="cv-description">${cv.description}</div>
            <pre class=${"cv-text syntax-" + (cv.syntax_highlight || "none")}>${cut ? lines.slice(0, cutoff).join("\n") : cv.text}</pre>
            ${cut && html`<button class="btn btn-small" onClick=${() => setAll(true)}>Show all (${lines.length - cutoff}+ more lines)</button>`}
        </div>`;
    }
    return html`<div class="body">
        <div class="body-toolbar">
            <${ViewSelector} part=${part} />
            ${len ? html`<a class="btn btn-small" href=${contentUrl(flow, part)} download>Download</a>` : ""}
            <${UploadButton} flow=${flow} part=${part} />
        </div>
        ${body}
    </div>`;
}

export function Messages({ flow }) {
    const view = currentView("messages");
    const meta = flow.websocket ? flow.websocket.messages_meta : flow.messages_meta;
    const url = contentUrl(flow, "messages", view, lineCutoff());
    const data = useFetched(url, meta ? `${meta.count}-${meta.contentLength}` : "");
    let list;
    if (!data) list = html`<div class="muted">Loading…</div>`;
    else if (!data.ok) list = html`<div class="error-text">${data.text}</div>`;
    else {
        let msgs = [];
        try {
            msgs = JSON.parse(data.text);
        } catch {
            msgs = [];
        }
        list = msgs.length
            ? msgs.map(
                  (m, i) => html`<div key=${i} class=${"message " + (m.from_client ? "from-client" : "from-server")}>
                    <div class="message-head">${m.from_client ? "▶ client → server" : "◀ server → client"}
                        <span class="muted">${m.timestamp ? new Date(m.timestamp * 1000).toLocaleTimeString() : ""} ${m.description || ""}</span></div>
                    <pre class="cv-text">${m.text}</pre></div>`,
              )
            : html`<div class="muted">No messages.</div>`;
    }
    return html`<div class="messages">
        <div class="body-toolbar"><${ViewSelector} part="messages" /></div>
        ${list}
    </div>`;
}
