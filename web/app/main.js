// The application shell: header tabs and their menus, the flow list with the details pane,
// the event log and command bar, the footer, mitmweb's keyboard shortcuts and the theme.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { html, cls } from "./html.js";
import { S, set, subscribe, start, act, selectedFlows, focused, selectRelative, view, select, setTheme, notify, clearSelection } from "./store.js";
import { fetchApi, put } from "./api.js";
import { FlowTable, ROW_HEIGHT } from "./flowtable.js";
import { FlowView, tabsFor, currentTab } from "./flowview.js";
import { FilterInput, EventLog, CommandBar, OptionsEditor, TextModal, exportFlow } from "./panes.js";

function useStore() {
    const [, setV] = useState(0);
    useEffect(() => subscribe(() => setV((v) => v + 1)), []);
}

function Tabs() {
    const f = focused();
    const tabs = [
        ["flowlist", "Flow List"],
        ["options", "Options"],
    ];
    if (f) tabs.push(["flow", "Flow"]);
    const active = S.tab === "flow" && !f ? "flowlist" : S.tab;
    return html`<nav class="main-tabs">
        ${tabs.map(([k, t]) => html`<a href="#" key=${k} data-tab=${k} class=${cls(k === active && "active")}
            onClick=${(e) => (e.preventDefault(), set({ tab: k }))}>${t}</a>`)}
    </nav>`;
}

function FileMenu() {
    const [open, setOpen] = useState(false);
    const onOpen = async (e) => {
        const file = e.currentTarget.files[0];
        e.currentTarget.value = "";
        setOpen(false);
        if (!file) return;
        const fd = new FormData();
        fd.append("file", file);
        const r = await fetchApi("./flows/dump", { method: "POST", body: fd });
        if (!r.ok) notify(`could not load ${file.name}: ${r.status} ${await r.text()}`);
    };
    const filt = S.filters.search;
    return html`<div class="dropdown file-menu">
        <button class="btn menu-toggle" onClick=${() => setOpen(!open)}>File ▾</button>
        ${open && html`<div class="dropdown-menu" onMouseLeave=${() => setOpen(false)}>
            <label class="dropdown-item">Open…<input type="file" hidden accept=".mitm,.flows,.har,*/*" onChange=${onOpen} /></label>
            <a class="dropdown-item" href="./flows/dump" download="flows" onClick=${() => setOpen(false)}>Save</a>
            ${filt && html`<a class="dropdown-item" href=${"./flows/dump?filter=" + encodeURIComponent(filt)} download="flows" onClick=${() => setOpen(false)}>Save filtered</a>`}
            <a class="dropdown-item" href="#" onClick=${(e) => {
                e.preventDefault();
                setOpen(false);
                if (confirm("Delete all flows and events?")) act.clear();
            }}>Clear All</a>
            <a class="dropdown-item" href="http://mitm.it/" target="_blank" rel="noopener">Install Certificates…</a>
        </div>`}
    </div>`;
}

function FlowListMenu() {
    return html`<div class="menu flowlist-menu">
        <div class="menu-group filters">
            <${FilterInput} name="search" placeholder="Search" />
            <${FilterInput} name="highlight" placeholder="Highlight" />
            <${FilterInput} name="intercept" placeholder="Intercept" />
        </div>
        <div class="menu-group">
            <button class="btn resume-all" onClick=${act.resumeAll} title="Resume all intercepted flows (A)">▶ Resume All</button>
        </div>
    </div>`;
}

function ExportMenu({ flow }) {
    const [open, setOpen] = useState(false);
    const fmts = [
        ["raw_request", "Copy raw request"],
        ["raw_response", "Copy raw response"],
        ["raw", "Copy raw request and response"],
        ["curl", "Copy as cURL"],
        ["httpie", "Copy as HTTPie"],
    ];
    return html`<div class="dropdown">
        <button class="btn menu-toggle export-toggle" onClick=${() => setOpen(!open)}>Export ▾</button>
        ${open && html`<div class="dropdown-menu" onMouseLeave=${() => setOpen(false)}>
            ${fmts.map(([k, t]) => html`<a href="#" class="dropdown-item" data-format=${k} onClick=${(e) => {
                e.preventDefault();
                setOpen(false);
                exportFlow(flow, k);
            }}>${t}</a>`)}</div>`}
    </div>`;
}

const MARKERS = [":default:", ":red_circle:", ":orange_circle:", ":yellow_circle:", ":green_circle:", ":large_blue_circle:", ":purple_circle:", ":brown_circle:"];

function FlowMenu() {
    const f = focused();
    const sel = selectedFlows();
    const [markOpen, setMarkOpen] = useState(false);
    if (!f) return html`<div class="menu"><span class="muted">No flow selected.</span></div>`;
    const anyIntercepted = sel.some((x) => x.intercepted);
    return html`<div class="menu flow-menu">
        <div class="menu-group">
            <button class="btn" onClick=${() => act.replay(sel)} title="Replay (r)">↻ Replay</button>
            <button class="btn" onClick=${() => act.duplicate(sel)} title="Duplicate (D)">⊕ Duplicate</button>
            <button class="btn" disabled=${!sel.some((x) => x.modified)} onClick=${() => act.revert(sel)} title="Revert changes (v)">↶ Revert</button>
            <button class="btn" onClick=${() => act.remove(sel)} title="Delete (d)">✕ Delete</button>
            <span class="dropdown">
                <button class="btn" onClick=${() => act.mark(sel)} title="Toggle mark (m)">${f.marked ? "Unmark" : "Mark"}</button>
                <button class="btn btn-caret" onClick=${() => setMarkOpen(!markOpen)}>▾</button>
                ${markOpen && html`<div class="dropdown-menu" onMouseLeave=${() => setMarkOpen(false)}>
                    ${MARKERS.map((m) => html`<a href="#" class="dropdown-item" onClick=${(e) => (e.preventDefault(), setMarkOpen(false), act.mark(sel, m))}>${m}</a>`)}</div>`}
            </span>
        </div>
        <div class="menu-group">
            <button class="btn btn-primary resume" disabled=${!anyIntercepted} onClick=${() => act.resume(sel)} title="Resume (a)">▶ Resume</button>
            <button class="btn btn-danger abort" disabled=${!anyIntercepted} onClick=${() => act.kill(sel)} title="Abort (x)">■ Abort</button>
        </div>
        <div class="menu-group">
            <${ExportMenu} flow=${f} />
            ${f.type === "http" && f.response && f.response.contentLength
                ? html`<a class="btn" href=${`./flows/${f.id}/response/content.data`} download>↓ Download</a>`
                : ""}
        </div>
    </div>`;
}

function OptionsMenu() {
    const toggle = (name, label) => {
        const o = S.options[name];
        return html`<label class="toggle"><input type="checkbox" checked=${!!(o && o.value)} disabled=${!o}
            onChange=${(e) => put("./options", { [name]: e.currentTarget.checked }).catch((err) => notify(err.message))} />${label}</label>`;
    };
    return html`<div class="menu options-menu">
        <div class="menu-group">
            ${toggle("anticache", "Strip cache headers")}
            ${toggle("showhost", "Use host header for display")}
            ${toggle("ssl_insecure", "Don't verify server certificates")}
        </div>
        <div class="menu-group">
            <label class="toggle"><input type="checkbox" checked=${S.showEventLog} onChange=${(e) => set({ showEventLog: e.currentTarget.checked })} />Display Event Log</label>
            <label class="toggle"><input type="checkbox" checked=${S.showCommandBar} onChange=${(e) => set({ showCommandBar: e.currentTarget.checked })} />Display Command Bar</label>
        </div>
    </div>`;
}

// the browser's own choice (localStorage) wins over the web_theme option; "auto" follows
// prefers-color-scheme
function theme() {
    if (S.theme) return S.theme;
    const o = S.options.web_theme && S.options.web_theme.value;
    return o === "dark" || o === "light" ? o : "auto";
}

function ThemeToggle() {
    const next = { auto: "light", light: "dark", dark: "auto" };
    const icon = { auto: "◐", light: "☀", dark: "☾" };
    const t = theme();
    return html`<button class="btn theme-toggle" title=${"Theme: " + t + " (click to change)"} onClick=${() => setTheme(next[t])}>${icon[t]} ${t}</button>`;
}

function Header() {
    const active = S.tab === "flow" && !focused() ? "flowlist" : S.tab;
    const menus = { flowlist: FlowListMenu, options: OptionsMenu, flow: FlowMenu };
    const Menu = menus[active];
    return html`<header class="header">
        <div class="header-top">
            <span class="brand">mitmc</span>
            <${FileMenu} />
            <${Tabs} />
            <span class="spacer"></span>
            <span class=${"connection-indicator conn-" + S.connection} title=${S.connectionError}>${
                { init: "connecting", fetching: "fetching data", established: "connected", error: "disconnected" }[S.connection]
            }</span>
            <${ThemeToggle} />
        </div>
        <${Menu} />
    </header>`;
}

function Footer() {
    const n = view().length;
    const intercepted = [...S.flows.values()].filter((f) => f.intercepted).length;
    const icpt = S.options.intercept && S.options.intercept.value;
    const servers = Object.values(S.backendState.servers || {});
    const addrs = servers.flatMap((s) => (s.listen_addrs || []).map((a) => `${s.full_spec || s.type || ""} ${a[0]}:${a[1]}`));
    return html`<footer class="footer">
        <span class="flow-count">${n} of ${S.flows.size} flows</span>
        ${S.selected.size > 1 && html`<span class="selected-count">${S.selected.size} selected</span>`}
        ${intercepted > 0 && html`<span class="badge intercepted-count">${intercepted} intercepted</span>`}
        ${icpt && html`<span class="badge intercept-filter">Intercept: ${icpt}</span>`}
        ${S.filters.search && html`<span class="badge">Search: ${S.filters.search}</span>`}
        <span class="spacer"></span>
        ${addrs.length > 0 && html`<span class="muted">listening: ${addrs.join(", ")}</span>`}
        <span class="muted">${S.backendState.version ? "mitmc " + S.backendState.version : ""}</span>
    </footer>`;
}

function Main() {
    if (S.tab === "options") return html`<main class="main"><${OptionsEditor} /></main>`;
    const f = focused();
    return html`<main class=${cls("main", f && "with-details")}>
        <${FlowTable} />
        ${f && html`<div class="splitter"></div><${FlowView} flow=${f} />`}
    </main>`;
}

function App() {
    useStore();
    useEffect(() => {
        document.documentElement.dataset.theme = theme();
    });
    return html`<div class="app">
        <${Header} />
        <${Main} />
        ${S.showEventLog && html`<${EventLog} />`}
        ${S.showCommandBar && html`<${CommandBar} />`}
        <${Footer} />
        ${S.modal && html`<${TextModal} title=${S.modal.title} text=${S.modal.text} onClose=${() => set({ modal: null })} />`}
        ${S.toast && html`<div class=${"toast toast-" + S.toast.level} onClick=${() => set({ toast: null })}>${S.toast.msg}</div>`}
    </div>`;
}

// ---- keyboard: mitmweb's shortcuts (ducks/ui/keyboard.tsx)
function onKeyDown(e) {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
    const f = focused();
    const sel = selectedFlows();
    const page = Math.max(1, Math.floor((document.querySelector(".flow-table")?.clientHeight || 600) / ROW_HEIGHT) - 1);
    const switchTab = (d) => {
        if (!f) return;
        const tabs = tabsFor(f);
        const i = tabs.indexOf(currentTab(f));
        set({ detailTab: tabs[(i + d + tabs.length) % tabs.length] });
    };
    const keys = {
        k: () => selectRelative(-1),
        ArrowUp: () => selectRelative(-1),
        j: () => selectRelative(+1),
        ArrowDown: () => selectRelative(+1),
        " ": () => selectRelative(+page),
        PageDown: () => selectRelative(+page),
        PageUp: () => selectRelative(-page),
        Home: () => {
            const ids = view();
            if (ids.length) select(ids[0]);
        },
        End: () => {
            const ids = view();
            if (ids.length) select(ids[ids.length - 1]);
        },
        Escape: () => {
            if (S.modal) set({ modal: null });
            else clearSelection();
        },
        ArrowLeft: () => switchTab(-1),
        ArrowRight: () => switchTab(+1),
        Tab: () => switchTab(e.shiftKey ? -1 : +1),
        d: () => act.remove(sel),
        Delete: () => act.remove(sel),
        n: () => act.newFlow(),
        D: () => act.duplicate(sel),
        a: () => act.resume(sel),
        A: () => act.resumeAll(),
        r: () => act.replay(sel),
        v: () => act.revert(sel),
        x: () => act.kill(sel),
        X: () => act.killAll(),
        z: () => {
            if (confirm("Delete all flows and events?")) act.clear();
        },
        m: () => act.mark(sel),
        ":": () => set({ showCommandBar: true }),
    };
    const fn = keys[e.key];
    if (!fn) return;
    if (e.key === "Tab" && !f) return;
    e.preventDefault();
    fn();
}

// the token in the address bar has done its job once the server set the cookie
if (new URLSearchParams(location.search).has("token")) {
    const u = new URL(location.href);
    u.searchParams.delete("token");
    history.replaceState(null, "", u.href);
}
document.addEventListener("keydown", onKeyDown);
start();
render(html`<${App} />`, document.getElementById("app"));
