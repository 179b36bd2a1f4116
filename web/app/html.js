// htm bound to Preact: every view writes html`<div>…</div>` instead of JSX.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);

export function cls(...names) {
    return names.filter(Boolean).join(" ");
}
