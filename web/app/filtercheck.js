// A light check of a filter expression before it goes to the server. The server parses it
// for real, but mitmproxy's /updates answers an invalid flows/updateFilter by closing the
// socket (1011), so the half-typed states of an expression ("~", "~u", "a &", "(~q") are caught
// here, with the operators from /filter-help: an op listed as "~u regex" takes an argument.
import { getJson } from "./api.js";

let ops = null; // Map op -> takes an argument
let loading = null;

export function loadFilterOps() {
    if (!loading)
        loading = getJson("./filter-help").then(
            (j) => {
                ops = new Map();
                for (const [op] of j.commands || []) {
                    const [name, arg] = op.split(" ");
                    if (name.startsWith("~")) ops.set(name, !!arg);
                }
                return j.commands;
            },
            () => {
                loading = null;
                return null;
            },
        );
    return loading;
}

function tokens(expr) {
    const out = [];
    const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[()!&|]|[^\s()!&|"']+)/gy;
    let m;
    let pos = 0;
    while ((m = re.exec(expr))) {
        out.push(m[1]);
        pos = re.lastIndex;
    }
    if (expr.slice(pos).trim()) throw new Error("unterminated quote");
    return out;
}

// "" when the expression looks complete, else why not
export function checkFilter(expr) {
    if (!expr.trim()) return "";
    let toks;
    try {
        toks = tokens(expr);
    } catch (e) {
        return e.message;
    }
    let depth = 0;
    for (let i = 0; i < toks.length; i++) {
        const t = toks[i];
        if (t === "(") depth++;
        else if (t === ")" && --depth < 0) return "unbalanced )";
        else if (t.startsWith("~") && ops) {
            if (!ops.has(t)) return `unknown filter ${t}`;
            const next = toks[i + 1];
            if (ops.get(t) && (next === undefined || "()!&|".includes(next))) return `${t} needs an argument`;
            if (ops.get(t)) i++;
        }
    }
    if (depth > 0) return "missing )";
    const last = toks[toks.length - 1];
    if (["!", "&", "|"].includes(last)) return `nothing after ${last}`;
    return "";
}
