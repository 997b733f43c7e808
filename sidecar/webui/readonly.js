// The sidecar's mitmweb is read-only (sidecar/webapp.py). mitmweb edits a flow in place: a click or
// focus on a request line, header or comment (.inline-input), or a click beside the headers
// (.kv-editor), turns it into an editor, and leaving it or pressing Enter sends it, even unchanged;
// an edit shows as made even when the server refuses it. React handles these events at its root
// element; this capturing listener on the document runs first and stops them there, so the text
// stays selectable and copyable but is never edited or sent.
const EDITABLE = ".inline-input, .kv-editor";

for (const type of ["mousedown", "click", "focusin", "focusout", "keydown"]) {
    document.addEventListener(
        type,
        (event) => {
            if (event.target instanceof Element && event.target.closest(EDITABLE)) {
                event.stopPropagation();
            }
        },
        true,
    );
}

// The keys mitmweb binds to writes: delete, new flow, duplicate, resume, resume all, replay, revert,
// kill, kill all, clear. mitmweb listens for them on the window; this listener captures them first.
const WRITE_KEYS = new Set(["Delete", "d", "n", "D", "a", "A", "r", "v", "x", "X", "z"]);

window.addEventListener(
    "keydown",
    (event) => {
        const typing = event.target instanceof Element && event.target.closest("input, textarea");
        if (WRITE_KEYS.has(event.key) && !typing) {
            event.stopPropagation();
        }
    },
    true,
);
