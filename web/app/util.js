// Formatting and flow helpers shared by the views (mitmweb's flow/utils.ts semantics).

export function formatSize(bytes) {
    if (bytes === null || bytes === undefined) return "";
    if (bytes === 0) return "0";
    const prefix = ["b", "kb", "mb", "gb", "tb"];
    let i = 0;
    for (; i < prefix.length - 1; i++) {
        if (bytes < 1024 ** (i + 1)) break;
    }
    const precision = bytes % 1024 ** i === 0 ? 0 : 1;
    return (bytes / 1024 ** i).toFixed(precision) + prefix[i];
}

export function formatTimeDelta(ms) {
    let t = ms;
    const units = ["ms", "s", "min", "h"];
    const div = [1000, 60, 60];
    let i = 0;
    while (i < div.length && Math.abs(t) >= div[i]) {
        t /= div[i];
        i++;
    }
    return Math.round(t) + units[i];
}

export function formatTimeStamp(seconds) {
    if (!seconds) return "";
    const d = new Date(seconds * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return (
        `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
        `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
    );
}

export function formatAddress(addr) {
    if (!addr) return "";
    return addr[0].includes(":") ? `[${addr[0]}]:${addr[1]}` : `${addr[0]}:${addr[1]}`;
}

export function header(headers, name) {
    if (!headers) return undefined;
    const n = name.toLowerCase();
    for (const [k, v] of headers) if (k.toLowerCase() === n) return v;
    return undefined;
}

export function prettyUrl(req) {
    const defport = (req.scheme === "http" && req.port === 80) || (req.scheme === "https" && req.port === 443);
    const host = req.pretty_host || req.host;
    const h = host.includes(":") ? `[${host}]` : host;
    return `${req.scheme}://${h}${defport ? "" : ":" + req.port}${req.path}`;
}

export function mainPath(f) {
    switch (f.type) {
        case "http":
            return prettyUrl(f.request);
        case "tcp":
        case "udp":
            return `${f.client_conn && formatAddress(f.client_conn.peername)} ↔ ${f.server_conn && formatAddress(f.server_conn.address)}`;
        case "dns":
            return (f.request && f.request.questions || []).map((q) => `${q.name} ${q.type}`).join(", ") || "DNS";
        default:
            return f.type;
    }
}

export function getMethod(f) {
    switch (f.type) {
        case "http":
            return f.websocket ? (f.client_conn.tls_established ? "WSS" : "WS") : f.request.method;
        case "dns":
            return (f.request && f.request.op_code) || "QUERY";
        default:
            return f.type.toUpperCase();
    }
}

export function statusCode(f) {
    if (f.type === "http" && f.response) return f.response.status_code;
    if (f.type === "dns" && f.response) return f.response.response_code;
    return "";
}

export function statusClass(code) {
    if (!code) return "";
    if (typeof code !== "number") return "status-other";
    return `status-${Math.floor(code / 100)}xx`;
}

export function totalSize(f) {
    switch (f.type) {
        case "http": {
            let t = f.request.contentLength || 0;
            if (f.response) t += f.response.contentLength || 0;
            if (f.websocket) t += f.websocket.messages_meta.contentLength || 0;
            return t;
        }
        case "tcp":
        case "udp":
            return (f.messages_meta && f.messages_meta.contentLength) || 0;
        default:
            return 0;
    }
}

export function startTime(f) {
    if (f.type === "http") return f.request.timestamp_start;
    return f.client_conn ? f.client_conn.timestamp_start : f.timestamp_created;
}

export function endTime(f) {
    if (f.type === "http") {
        if (f.websocket) return f.websocket.timestamp_end || f.websocket.messages_meta.timestamp_last;
        return f.response ? f.response.timestamp_end : undefined;
    }
    if (f.type === "tcp" || f.type === "udp") return f.messages_meta && f.messages_meta.timestamp_last;
    return f.server_conn && f.server_conn.timestamp_end;
}

export function resourceType(f) {
    if (f.type !== "http") return f.type;
    if (f.websocket) return "websocket";
    const r = f.response;
    if (!r) return "plain";
    if (r.status_code === 304) return "not-modified";
    if (r.status_code >= 300 && r.status_code < 400) return "redirect";
    const ct = header(r.headers, "content-type") || "";
    if (ct.includes("image")) return "image";
    if (ct.includes("javascript")) return "js";
    if (ct.includes("css")) return "css";
    if (ct.includes("html")) return "html";
    return "plain";
}

// A short label per resource type, drawn as a small badge in the icon column (plain text, so
// no icon font or emoji font is needed).
export const RESOURCE_ICONS = {
    plain: "DOC",
    html: "</>",
    js: "JS",
    css: "CSS",
    image: "IMG",
    "not-modified": "304",
    redirect: "↪",
    websocket: "⇄",
    tcp: "TCP",
    udp: "UDP",
    dns: "DNS",
    quic: "QUIC",
};

// mitmweb sends a marker as the emoji it names; the circles are drawn as coloured dots.
const MARKER_COLORS = {
    "🔴": "#e53935",
    "🟠": "#fb8c00",
    "🟡": "#fdd835",
    "🟢": "#43a047",
    "🔵": "#1e88e5",
    "🟣": "#8e24aa",
    "🟤": "#6d4c41",
    "⚫": "#212121",
    "⚪": "#bdbdbd",
};

export function markerColor(m) {
    return MARKER_COLORS[m];
}

export function canReplay(f) {
    return f.type === "http" || f.type === "dns";
}

export function canResumeOrKill(f) {
    return !!f.intercepted;
}

// Sort keys for the sortable columns.
export const SORT_KEYS = {
    icon: (f) => resourceType(f),
    index: null, // arrival order
    method: (f) => getMethod(f),
    version: (f) => (f.type === "http" ? f.request.http_version : ""),
    path: (f) => mainPath(f),
    status: (f) => {
        const c = statusCode(f);
        return c === "" ? -1 : c;
    },
    size: (f) => totalSize(f),
    time: (f) => {
        const s = startTime(f);
        const e = endTime(f);
        return s && e ? e - s : -1;
    },
    timestamp: (f) => startTime(f) || 0,
    tls: (f) => (f.client_conn && f.client_conn.tls_established ? 1 : 0),
    comment: (f) => f.comment || "",
};
