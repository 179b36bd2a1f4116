// The smaller parts: filter inputs with the syntax help, the event log, the command bar,
// the options editor and a text modal (export results).
import { useEffect, useRef, useState } from "preact/hooks";
import { html, cls } from "./html.js";
import { S, set, setFilter, notify } from "./store.js";
import { getJson, runCommand, put } from "./api.js";
import { loadFilterOps } from "./filtercheck.js";

function FilterHelp({ onPick }) {
    const [cmds, setCmds] = useState(null);
    useEffect(() => {
        loadFilterOps().then((c) => setCmds(c || [["error", "could not load /filter-help"]]));
    }, []);
    return html`<div class="popover filter-help">
        <table class="table"><tbody>
            ${(cmds || []).map(([op, help]) => html`<tr key=${op} onMouseDown=${(e) => (e.preventDefault(), onPick(op))}><td class="mono">${op.replace(" ", "\u00a0")}</td><td>${help}</td></tr>`)}
            ${!cmds && html`<tr><td>Loading…</td></tr>`}
        </tbody></table>
        <div class="muted">Filters combine with !, & and |, and group with ( ).</div>
    </div>`;
}

const FILTER_TITLES = { search: "Search", highlight: "Highlight", intercept: "Intercept" };

export function FilterInput({ name, placeholder }) {
    const committed = name === "intercept" ? (S.options.intercept && S.options.intercept.value) || "" : S.filters[name];
    const [value, setValue] = useState(committed);
    const [focus, setFocus] = useState(false);
    const [help, setHelp] = useState(false);
    const timer = useRef(0);
    const last = useRef(committed);
    if (!focus && committed !== last.current) {
        last.current = committed;
        if (value !== committed) setValue(committed);
    }
    const commit = (v) => {
        clearTimeout(timer.current);
        last.current = v;
        setFilter(name, v);
    };
    const onInput = (e) => {
        const v = e.currentTarget.value;
        setValue(v);
        // search and highlight follow the typing; intercept changes an option, so on Enter/blur
        if (name !== "intercept") {
            clearTimeout(timer.current);
            timer.current = setTimeout(() => commit(v), 250);
        }
    };
    const err = S.filterError[name];
    return html`<div class=${cls("filter-input", "filter-" + name, err && "has-error", value && "active")}>
        <span class="filter-label" title=${FILTER_TITLES[name]}>${FILTER_TITLES[name]}</span>
        <input type="text" name=${name} placeholder=${placeholder} value=${value} spellcheck=${false} autocomplete="off"
            onInput=${onInput}
            onFocus=${() => setFocus(true)}
            onBlur=${() => {
                setFocus(false);
                setHelp(false);
                if (value !== last.current) commit(value);
            }}
            onKeyDown=${(e) => {
                if (e.key === "Enter") {
                    commit(value);
                    e.currentTarget.blur();
                } else if (e.key === "Escape") e.currentTarget.blur();
                e.stopPropagation();
            }} />
        <button type="button" class="filter-help-toggle" title="Filter syntax" onMouseDown=${(e) => e.preventDefault()}
            onClick=${() => setHelp(!help)}>?</button>
        ${help && html`<${FilterHelp} onPick=${(op) => {
            const v = (value ? value + " " : "") + op.split(" ")[0] + " ";
            setValue(v);
        }} />`}
        ${err && html`<div class="filter-error">${err}</div>`}
    </div>`;
}

export function EventLog() {
    const ref = useRef(null);
    const levels = ["debug", "info", "web", "warn", "error"];
    const ev = S.events.filter((e) => S.eventFilter[e.level] !== false);
    useEffect(() => {
        if (ref.current) ref.current.scrollTop = ref.current.scrollHeight;
    }, [ev.length]);
    return html`<div class="eventlog">
        <div class="eventlog-head">Event Log
            <span class="eventlog-levels">${levels.map(
                (l) => html`<label key=${l}><input type="checkbox" checked=${S.eventFilter[l] !== false}
                    onChange=${(e) => set({ eventFilter: { ...S.eventFilter, [l]: e.currentTarget.checked } })} />${l}</label>`,
            )}</span>
            <button class="btn btn-small" onClick=${() => set({ showEventLog: false })} title="Close">✕</button>
        </div>
        <div class="eventlog-list" ref=${ref}>
            ${ev.slice(-1000).map((e) => html`<div key=${e.id} class=${"event level-" + e.level}><span class="level">${e.level}</span> ${e.message}</div>`)}
        </div>
    </div>`;
}

// split a command line as mitmproxy's command bar does: whitespace, with "…" and '…' quoting
export function splitCommand(line) {
    const out = [];
    const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
    let m;
    while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2] !== undefined ? m[2] : m[3]);
    return out;
}

let commandsCache = null;

export function CommandBar() {
    const [line, setLine] = useState("");
    const [out, setOut] = useState([]);
    const [cmds, setCmds] = useState(commandsCache);
    const [hist, setHist] = useState({ list: [], pos: -1 });
    const inputRef = useRef(null);
    useEffect(() => {
        if (!commandsCache) getJson("./commands").then((c) => setCmds((commandsCache = c)), () => {});
        if (inputRef.current) inputRef.current.focus();
    }, []);
    const words = splitCommand(line);
    const name = words[0] || "";
    const matches = cmds && !line.includes(" ") && name ? Object.keys(cmds).filter((c) => c.startsWith(name)).slice(0, 8) : [];
    const sig = cmds && cmds[name];
    const run = async () => {
        if (!words.length) return;
        setHist({ list: [...hist.list, line], pos: -1 });
        const r = await runCommand(words[0], ...words.slice(1));
        const res = r.error ? `error: ${r.error}` : r.value === undefined || r.value === null ? "(ok)" : typeof r.value === "string" ? r.value : JSON.stringify(r.value, null, 1);
        setOut([...out.slice(-50), { cmd: line, res, error: !!r.error }]);
        setLine("");
    };
    const onKey = (e) => {
        e.stopPropagation();
        if (e.key === "Enter") run();
        else if (e.key === "Tab" && matches.length) {
            e.preventDefault();
            setLine(matches[0] + " ");
        } else if (e.key === "ArrowUp" && hist.list.length) {
            const pos = hist.pos < 0 ? hist.list.length - 1 : Math.max(0, hist.pos - 1);
            setHist({ ...hist, pos });
            setLine(hist.list[pos]);
        } else if (e.key === "Escape") set({ showCommandBar: false });
    };
    return html`<div class="commandbar">
        <div class="commandbar-output">${out.map((o, i) => html`<div key=${i}><div class="mono">$ ${o.cmd}</div><pre class=${o.error ? "error-text" : ""}>${o.res}</pre></div>`)}</div>
        ${sig && html`<div class="muted mono signature">${name} ${(sig.parameters || []).map((p) => (p.kind === "VAR_POSITIONAL" ? `*${p.name}` : p.name)).join(" ")} → ${sig.return_type || "None"}: ${sig.help || ""}</div>`}
        ${matches.length > 0 && html`<div class="muted mono completions">${matches.join("  ")}</div>`}
        <div class="commandbar-line"><span class="prompt">:</span>
            <input ref=${inputRef} type="text" class="command-input" placeholder="Enter command (Tab completes)" value=${line}
                spellcheck=${false} onInput=${(e) => setLine(e.currentTarget.value)} onKeyDown=${onKey} />
            <button class="btn btn-small" onClick=${() => set({ showCommandBar: false })}>✕</button>
        </div>
    </div>`;
}

function OptionInput({ name, o }) {
    const [v, setV] = useState(null);
    const send = (value) =>
        put("./options", { [name]: value }).then(
            () => setV(null),
            (e) => notify(`${name}: ${e.message}`),
        );
    const cur = v === null ? o.value : v;
    if (o.type === "bool") return html`<input type="checkbox" checked=${!!o.value} onChange=${(e) => send(e.currentTarget.checked)} />`;
    if (o.choices && o.choices.length)
        return html`<select value=${o.value} onChange=${(e) => send(e.currentTarget.value)}>${o.choices.map((c) => html`<option value=${c}>${c}</option>`)}</select>`;
    const isSeq = o.type === "sequence of str";
    const shown = isSeq && Array.isArray(cur) ? cur.join("\n") : cur === null || cur === undefined ? "" : String(cur);
    const parse = (s) => {
        if (isSeq) return s.split("\n").filter((x) => x !== "");
        if (o.type === "int" || o.type === "optional int") return s === "" && o.type.startsWith("optional") ? null : Number(s);
        if (o.type.startsWith("optional") && s === "") return null;
        return s;
    };
    const onKey = (e) => {
        e.stopPropagation();
        if (e.key === "Enter" && !isSeq) send(parse(e.currentTarget.value));
    };
    const props = { value: shown, onInput: (e) => setV(parse(e.currentTarget.value)), onKeyDown: onKey, onBlur: () => v !== null && send(v) };
    return isSeq
        ? html`<textarea rows="2" ...${props}></textarea>`
        : html`<input type=${o.type.includes("int") ? "number" : "text"} ...${props} />`;
}

export function OptionsEditor() {
    const [q, setQ] = useState("");
    const names = Object.keys(S.options)
        .filter((n) => !q || n.includes(q) || (S.options[n].help || "").toLowerCase().includes(q.toLowerCase()))
        .sort();
    return html`<div class="options-editor">
        <input type="search" class="options-search" placeholder="Search options" value=${q}
            onInput=${(e) => setQ(e.currentTarget.value)} onKeyDown=${(e) => e.stopPropagation()} />
        <table class="table options-table"><tbody>
            ${names.map((n) => {
                const o = S.options[n];
                const changed = JSON.stringify(o.value) !== JSON.stringify(o.default);
                return html`<tr key=${n} class=${cls(changed && "changed")} data-option=${n}>
                    <td class="option-name"><div class="mono">${n}</div><div class="muted option-help">${o.help}</div></td>
                    <td class="option-value"><${OptionInput} name=${n} o=${o} />
                        ${changed && html`<button class="btn btn-small" title="Reset to the default" onClick=${() =>
                            put("./options", { [n]: o.default }).catch((e) => notify(e.message))}>reset</button>`}</td>
                </tr>`;
            })}
        </tbody></table>
        ${names.length === 0 && html`<div class="muted">${Object.keys(S.options).length ? "No option matches." : "Loading options…"}</div>`}
    </div>`;
}

export function TextModal({ title, text, onClose }) {
    const copy = () => navigator.clipboard && navigator.clipboard.writeText(text).catch(() => {});
    return html`<div class="modal-backdrop" onClick=${onClose}>
        <div class="modal" onClick=${(e) => e.stopPropagation()}>
            <div class="modal-head">${title}<button class="btn btn-small" onClick=${onClose}>✕</button></div>
            <textarea class="modal-text" readonly rows="16" spellcheck=${false} value=${text}></textarea>
            <div class="modal-buttons"><button class="btn btn-primary" onClick=${copy}>Copy to clipboard</button></div>
        </div>
    </div>`;
}

export async function exportFlow(flow, format) {
    const r = await runCommand("export", format, `@${flow.id}`);
    if (r.error) return notify(r.error);
    const text = typeof r.value === "string" ? r.value : JSON.stringify(r.value);
    try {
        if (navigator.clipboard) await navigator.clipboard.writeText(text);
    } catch {
        /* no clipboard permission: the modal still shows it */
    }
    set({ modal: { title: `Export: ${format}`, text } });
}
