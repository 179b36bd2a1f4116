// The UI's state: one plain object, changed by the functions here, and a subscription that
// re-renders at most once per animation frame however many messages arrive.
import { SORT_KEYS } from "./util.js";
import * as api from "./api.js";
import { checkFilter, loadFilterOps } from "./filtercheck.js";

const params = new URLSearchParams(location.search);

export const S = {
    connection: "init", // init | fetching | established | error
    connectionError: "",
    flows: new Map(), // id -> flow JSON (mitmproxy 12's flow_to_json)
    order: [], // ids in the server's order
    listVersion: 0, // bumped when membership or order changes
    dataVersion: 0, // bumped when any flow changes
    filters: { search: params.get("search") || "", highlight: params.get("highlight") || "" },
    match: { search: null, highlight: null }, // Set of ids per server-side filter, null = no filter
    filterError: { search: "", highlight: "", intercept: "" },
    sort: { column: null, desc: false },
    selected: new Set(),
    focus: null, // the flow shown in the details pane
    anchor: null, // where a Shift-click range starts
    tab: "flowlist", // header tab: capture-less mitmweb: flowlist | options | flow
    detailTab: "request",
    events: [],
    eventFilter: { debug: false, info: true, web: true, warn: true, error: true },
    showEventLog: false,
    showCommandBar: false,
    options: {},
    backendState: {},
    theme: localStorage.getItem("mitmc-theme") || "", // "" = the web_theme option
    contentView: {}, // part -> view name
    edit: null, // {flowId, part, draft} while editing
    toast: null,
};

const listeners = new Set();
let frame = 0;

export function subscribe(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

export function changed() {
    if (frame) return;
    const run = () => {
        frame = 0;
        for (const fn of listeners) fn();
    };
    frame = typeof requestAnimationFrame === "function" ? requestAnimationFrame(run) : setTimeout(run, 16);
}

export function set(patch) {
    Object.assign(S, patch);
    changed();
}

export function notify(msg, level = "error") {
    S.toast = { msg: String(msg), level, t: Date.now() };
    changed();
    const t = S.toast;
    setTimeout(() => {
        if (S.toast === t) set({ toast: null });
    }, 6000);
}

// ---- the flow view (search-filtered, sorted), recomputed only when it can have changed
let viewCache = { key: "", ids: [] };

export function view() {
    const sortKey = S.sort.column ? SORT_KEYS[S.sort.column] : null;
    const key = `${S.listVersion}|${sortKey ? S.dataVersion : ""}|${S.sort.column}|${S.sort.desc}|${S.match.search ? S.match.search.v : "-"}`;
    if (viewCache.key === key) return viewCache.ids;
    const m = S.match.search;
    let ids = m ? S.order.filter((id) => m.has(id)) : S.order.slice();
    if (sortKey) {
        const k = new Map(ids.map((id) => [id, sortKey(S.flows.get(id))]));
        ids.sort((a, b) => {
            const x = k.get(a);
            const y = k.get(b);
            return x < y ? -1 : x > y ? 1 : 0;
        });
    }
    if (S.sort.desc) ids.reverse();
    viewCache = { key, ids };
    return ids;
}

function matchSet(ids) {
    const s = new Set(ids);
    s.v = Math.random();
    return s;
}

function applyMatching(id, mf) {
    for (const name of ["search", "highlight"]) {
        const m = S.match[name];
        if (!m || !mf || !(name in mf)) continue;
        if (mf[name]) m.add(id);
        else m.delete(id);
        m.v = Math.random();
    }
}

// ---- server data
export const handlers = {
    connection(state, err = "") {
        set({ connection: state, connectionError: err });
    },
    resendFilters() {
        for (const name of ["search", "highlight"]) if (!S.filterError[name]) sendFilter(name);
    },
    // the server closed /updates right after a filter (mitmproxy's answer to an invalid one):
    // keep the text, show why, and do not send it again
    filterRejected(name) {
        S.filterError = { ...S.filterError, [name]: "the server refused this filter" };
        S.match = { ...S.match, [name]: null };
        changed();
    },
    // data: the resource's JSON; for flows a list, appended to what is there when more is set
    // (the later pages of a paged fetch)
    receive(resource, data, more = false) {
        switch (resource) {
            case "flows": {
                if (!more) {
                    S.flows = new Map();
                    S.order = [];
                }
                for (const f of data) {
                    if (!S.flows.has(f.id)) S.order.push(f.id);
                    S.flows.set(f.id, f);
                }
                if (!more) {
                    for (const id of S.selected) if (!S.flows.has(id)) S.selected.delete(id);
                    if (S.focus && !S.flows.has(S.focus)) S.focus = null;
                }
                S.listVersion++;
                S.dataVersion++;
                break;
            }
            case "events":
                S.events = data;
                break;
            case "options":
                S.options = data;
                break;
            case "state":
                S.backendState = data;
                break;
        }
        changed();
    },
    message(msg) {
        const p = msg.payload;
        switch (msg.type) {
            case "flows/add": {
                const f = p.flow;
                if (!S.flows.has(f.id)) {
                    S.order.push(f.id);
                    S.listVersion++;
                }
                S.flows.set(f.id, f);
                applyMatching(f.id, p.matching_filters);
                S.dataVersion++;
                break;
            }
            case "flows/update": {
                const f = p.flow;
                if (!S.flows.has(f.id)) {
                    S.order.push(f.id);
                    S.listVersion++;
                }
                S.flows.set(f.id, f);
                applyMatching(f.id, p.matching_filters);
                S.dataVersion++;
                break;
            }
            case "flows/remove": {
                const id = p;
                if (S.flows.delete(id)) {
                    const i = S.order.indexOf(id);
                    if (i >= 0) S.order.splice(i, 1);
                    S.selected.delete(id);
                    if (S.focus === id) S.focus = null;
                    S.listVersion++;
                    S.dataVersion++;
                }
                break;
            }
            case "flows/filterUpdate": {
                if (p.name in S.match) {
                    S.match[p.name] = p.matching_flow_ids === null ? null : matchSet(p.matching_flow_ids);
                }
                break;
            }
            case "events/add":
                S.events.push(p);
                if (S.events.length > 5000) S.events.splice(0, S.events.length - 5000);
                break;
            case "options/update":
                for (const [k, v] of Object.entries(p)) S.options[k] = { ...(S.options[k] || {}), ...v };
                break;
            case "state/update":
                S.backendState = { ...S.backendState, ...p };
                break;
        }
        changed();
    },
};

export let backend = null;

export function start() {
    loadFilterOps();
    backend = new api.Backend(handlers);
}

function sendFilter(name) {
    if (backend) backend.send({ type: "flows/updateFilter", payload: { name, expr: S.filters[name] } });
}

export function setFilter(name, expr) {
    if (name === "intercept") {
        api.put("./options", { intercept: expr }).then(
            () => set({ filterError: { ...S.filterError, intercept: "" } }),
            (e) => set({ filterError: { ...S.filterError, intercept: e.message } }),
        );
        return;
    }
    S.filters = { ...S.filters, [name]: expr };
    const err = checkFilter(expr);
    S.filterError = { ...S.filterError, [name]: err };
    if (!expr || err) {
        // nothing (or nothing valid yet) to filter by: the server forgets the filter
        S.match = { ...S.match, [name]: null };
        if (backend) backend.send({ type: "flows/updateFilter", payload: { name, expr: "" } });
    }
    // keep the filter in the address bar, as mitmweb does
    const u = new URL(location.href);
    if (expr) u.searchParams.set(name, expr);
    else u.searchParams.delete(name);
    u.searchParams.delete("token");
    history.replaceState(null, "", u.href);
    if (expr && !err) sendFilter(name);
    changed();
}

// ---- selection
export function select(id, { toggle = false, range = false } = {}) {
    if (range && S.anchor) {
        const ids = view();
        const a = ids.indexOf(S.anchor);
        const b = ids.indexOf(id);
        if (a >= 0 && b >= 0) {
            S.selected = new Set(ids.slice(Math.min(a, b), Math.max(a, b) + 1));
            S.focus = id;
            followFocus();
            return changed();
        }
    }
    if (toggle) {
        const s = new Set(S.selected);
        if (s.has(id)) s.delete(id);
        else s.add(id);
        S.selected = s;
        S.focus = s.has(id) ? id : [...s][0] || null;
    } else {
        S.selected = new Set(id ? [id] : []);
        S.focus = id;
    }
    S.anchor = id;
    followFocus();
    changed();
}

// as mitmweb: a selected flow brings up the Flow menu, no selection the Flow List menu
function followFocus() {
    if (S.focus && S.tab === "flowlist") S.tab = "flow";
    else if (!S.focus && S.tab === "flow") S.tab = "flowlist";
}

export function clearSelection() {
    S.selected = new Set();
    S.focus = null;
    followFocus();
    changed();
}

export function selectRelative(delta) {
    const ids = view();
    if (!ids.length) return;
    let i = S.focus ? ids.indexOf(S.focus) : -1;
    if (i < 0) i = delta > 0 ? -1 : ids.length;
    i = Math.max(0, Math.min(ids.length - 1, i + delta));
    select(ids[i]);
}

export function selectedFlows() {
    return [...S.selected].map((id) => S.flows.get(id)).filter(Boolean);
}

export function focused() {
    return S.focus ? S.flows.get(S.focus) : undefined;
}

// ---- actions (per flow, on the selection)
async function each(flows, fn) {
    try {
        await Promise.all(flows.map(fn));
    } catch (e) {
        notify(e.message || e);
    }
}

export const act = {
    resume: (fs) => each(fs.filter((f) => f.intercepted), (f) => api.post(`./flows/${f.id}/resume`)),
    kill: (fs) => each(fs.filter((f) => f.intercepted || f.live), (f) => api.post(`./flows/${f.id}/kill`)),
    remove: (fs) => each(fs, (f) => api.del(`./flows/${f.id}`)),
    duplicate: (fs) => each(fs, (f) => api.post(`./flows/${f.id}/duplicate`)),
    replay: (fs) => each(fs, (f) => api.post(`./flows/${f.id}/replay`)),
    revert: (fs) => each(fs.filter((f) => f.modified), (f) => api.post(`./flows/${f.id}/revert`)),
    mark: (fs, marker) => {
        const on = marker !== undefined ? marker : fs.some((f) => !f.marked) ? ":default:" : "";
        return each(fs, (f) => api.put(`./flows/${f.id}`, { marked: on }));
    },
    update: (f, patch) => api.put(`./flows/${f.id}`, patch),
    resumeAll: () => api.post("./flows/resume").catch((e) => notify(e.message)),
    killAll: () => api.post("./flows/kill").catch((e) => notify(e.message)),
    clear: () => api.post("./clear").catch((e) => notify(e.message)),
    newFlow: async () => {
        const r = await api.runCommand("view.flows.create", "get", "https://example.com/");
        if (r.error) notify(r.error);
    },
};

export function setTheme(theme) {
    localStorage.setItem("mitmc-theme", theme);
    set({ theme });
}
