// The flow table: mitmweb's columns, click-to-sort headers, Ctrl/Shift multi-select, and a
// virtual scroll that renders only the rows in sight, so 100,000 flows cost as much as 50.
import { useEffect, useRef, useState, useLayoutEffect } from "preact/hooks";
import { html, cls } from "./html.js";
import { S, view, select, set, act, changed } from "./store.js";
import * as u from "./util.js";

export function Marker({ m }) {
    const c = u.markerColor(m);
    return c ? html`<span class="marker" style=${{ color: c }} title="marked">●</span>` : html`<span class="marker">${m}</span>`;
}

export const ROW_HEIGHT = 28;
const DEFAULT_COLUMNS = ["icon", "path", "method", "status", "size", "time"];

const COLUMNS = {
    tls: {
        title: "",
        cell: (f) => {
            const tls = f.client_conn && f.client_conn.tls_established;
            return html`<td class=${cls("col-tls", tls ? "col-tls-https" : "col-tls-http")} title=${tls ? "TLS encrypted" : "Plaintext"}></td>`;
        },
    },
    index: { title: "#", cell: (f, i) => html`<td class="col-index">${i + 1}</td>` },
    icon: {
        title: "",
        cell: (f) => {
            const t = u.resourceType(f);
            return html`<td class="col-icon" title=${t}><span class=${"res-icon res-" + t}>${u.RESOURCE_ICONS[t] || "?"}</span></td>`;
        },
    },
    path: {
        title: "Path",
        cell: (f) => html`<td class="col-path">
            ${f.is_replay === "request" && html`<span class="flag" title="Replayed request">↻</span>`}
            ${f.intercepted && html`<span class="flag intercepted" title="Intercepted — waiting to resume">❚❚</span>`}
            ${f.error && html`<span class="flag error" title=${f.error.msg}>${f.error.msg === "Connection killed." ? "✕" : "⚠"}</span>`}
            ${f.marked && html`<${Marker} m=${f.marked} />`}
            <span class="path-text">${u.mainPath(f)}</span>
        </td>`,
    },
    method: { title: "Method", cell: (f) => html`<td class="col-method"><span class="badge method">${u.getMethod(f)}</span></td>` },
    version: { title: "Version", cell: (f) => html`<td class="col-version">${f.type === "http" ? f.request.http_version : ""}</td>` },
    status: {
        title: "Status",
        cell: (f) => {
            const c = u.statusCode(f);
            return html`<td class="col-status">${c !== "" && html`<span class=${cls("badge", u.statusClass(c))}>${c}</span>`}</td>`;
        },
    },
    size: { title: "Size", cell: (f) => html`<td class="col-size">${u.formatSize(u.totalSize(f))}</td>` },
    time: {
        title: "Time",
        cell: (f) => {
            const s = u.startTime(f);
            const e = u.endTime(f);
            return html`<td class="col-time">${s && e ? u.formatTimeDelta(1000 * (e - s)) : "..."}</td>`;
        },
    },
    timestamp: { title: "Start time", cell: (f) => html`<td class="col-timestamp">${u.formatTimeStamp(u.startTime(f))}</td>` },
    comment: { title: "Comment", cell: (f) => html`<td class="col-comment">${f.comment}</td>` },
    quickactions: {
        title: "",
        cell: (f) => {
            const run = (fn) => (e) => {
                e.stopPropagation();
                fn([f]);
            };
            return html`<td class="col-quickactions">${f.intercepted
                ? html`<a href="#" class="quickaction" title="Resume" onClick=${run(act.resume)}>▶</a>`
                : u.canReplay(f) && html`<a href="#" class="quickaction" title="Replay" onClick=${run(act.replay)}>↻</a>`}</td>`;
        },
    },
};

// on a narrow window the table keeps the columns that say what a flow is
const narrow = typeof matchMedia === "function" ? matchMedia("(max-width: 800px)") : null;
if (narrow) narrow.addEventListener("change", changed);
const NARROW_HIDDEN = new Set(["icon", "size", "time", "timestamp", "index", "version", "comment"]);

export function columns() {
    const opt = S.options.web_columns && S.options.web_columns.value;
    const list = Array.isArray(opt) && opt.length ? opt : DEFAULT_COLUMNS;
    return list.filter((c) => COLUMNS[c] && !(narrow && narrow.matches && NARROW_HIDDEN.has(c)));
}

function onSort(col) {
    if (!u.SORT_KEYS[col] && col !== "index") return;
    if (S.sort.column === col) {
        if (S.sort.desc) set({ sort: { column: null, desc: false } });
        else set({ sort: { column: col, desc: true } });
    } else set({ sort: { column: col === "index" ? null : col, desc: false } });
}

export function FlowTable() {
    const ref = useRef(null);
    const [vp, setVp] = useState({ top: 0, height: 600 });
    const stick = useRef(true);
    const ids = view();
    const cols = columns();
    const hl = S.match.highlight;

    useLayoutEffect(() => {
        const el = ref.current;
        if (!el) return;
        const measure = () => setVp({ top: el.scrollTop, height: el.clientHeight });
        measure();
        const ro = new ResizeObserver(measure);
        ro.observe(el);
        return () => ro.disconnect();
    }, []);

    // follow the tail while the user is at the bottom, as mitmweb's AutoScroll
    useLayoutEffect(() => {
        const el = ref.current;
        if (el && stick.current && el.scrollHeight > el.clientHeight) {
            el.scrollTop = el.scrollHeight;
        }
    }, [ids.length]);

    // keep the focused row in sight when it moves by keyboard
    useEffect(() => {
        const el = ref.current;
        if (!el || !S.focus) return;
        const i = ids.indexOf(S.focus);
        if (i < 0) return;
        const head = ROW_HEIGHT;
        const rowTop = i * ROW_HEIGHT;
        if (rowTop < el.scrollTop) el.scrollTop = rowTop;
        else if (rowTop + ROW_HEIGHT + head > el.scrollTop + el.clientHeight) el.scrollTop = rowTop + ROW_HEIGHT + head - el.clientHeight;
    }, [S.focus]);

    const onScroll = (e) => {
        const el = e.currentTarget;
        stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 2;
        setVp({ top: el.scrollTop, height: el.clientHeight });
    };

    const first = Math.max(0, Math.floor(vp.top / ROW_HEIGHT) - 10);
    const last = Math.min(ids.length, Math.ceil((vp.top + vp.height) / ROW_HEIGHT) + 10);
    const rows = [];
    for (let i = first; i < last; i++) {
        const f = S.flows.get(ids[i]);
        if (!f) continue;
        const onClick = (e) => {
            select(f.id, { toggle: e.ctrlKey || e.metaKey, range: e.shiftKey });
        };
        rows.push(html`<tr key=${f.id} data-id=${f.id} onClick=${onClick}
            class=${cls("flow-row", S.selected.has(f.id) && "selected", f.id === S.focus && "focused",
                hl && hl.has(f.id) && "highlighted", f.intercepted && "intercepted", f.error && "has-error")}>
            ${cols.map((c) => COLUMNS[c].cell(f, i))}
        </tr>`);
    }

    return html`<div class="flow-table" ref=${ref} onScroll=${onScroll} tabindex="-1">
        <table>
            <thead><tr>
                ${cols.map((c) => html`<th key=${c} class=${cls("col-" + c, S.sort.column === c && (S.sort.desc ? "sort-desc" : "sort-asc"))}
                    onClick=${() => onSort(c)}>${COLUMNS[c].title}</th>`)}
            </tr></thead>
            <tbody>
                <tr class="spacer"><td colspan=${cols.length} style=${{ height: first * ROW_HEIGHT + "px" }}></td></tr>
                ${rows}
                <tr class="spacer"><td colspan=${cols.length} style=${{ height: (ids.length - last) * ROW_HEIGHT + "px" }}></td></tr>
            </tbody>
        </table>
        ${ids.length === 0 && html`<div class="empty">${S.flows.size ? "No flow matches the search filter." : "No flows yet: send traffic through the proxy."}</div>`}
    </div>`;
}
