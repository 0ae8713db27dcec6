// The targeting editor: which pods the workers capture (pod regex, namespaces), saved with
// PUT /api/targeting. The hub's hello says whether targeting exists; the stats carry its state.

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const names = (text) => text.split(",").map((name) => name.trim()).filter(Boolean);

export class TargetingEditor {
  /** elements: {edit, form, regex, namespaces, excluded, error}; onChange(body or null). */
  constructor(elements, onChange) {
    this.el = elements;
    this.onChange = onChange;
    this.body = null;
    elements.edit.addEventListener("click", () => this.open());
    elements.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    elements.form.addEventListener("reset", () => this.close());
    elements.form.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      elements.form.reset();
    });
  }

  /** Whether this hub has targeting (the hello says): the editor is offered only then. */
  setAvailable(available) {
    this.el.edit.hidden = !available;
    if (!available) {
      this.el.form.hidden = true;
      this.body = null;
      this.onChange(null);
    }
  }

  /** The targeting in force ({spec, coverage}), from the stats or a save. */
  show(body) {
    this.body = body;
    this.onChange(body);
  }

  open() {
    if (this.body === null) return; // the first stats have not come yet
    const spec = this.body.spec;
    this.el.regex.value = spec.podRegex;
    this.el.namespaces.value = spec.namespaces.join(", ");
    this.el.excluded.value = spec.excludedNamespaces.join(", ");
    this.el.error.textContent = "";
    this.el.form.hidden = false;
    this.el.regex.focus();
  }

  close() {
    this.el.form.hidden = true;
    this.el.edit.focus();
  }

  async save() {
    const spec = {
      podRegex: this.el.regex.value.trim(),
      namespaces: names(this.el.namespaces.value),
      excludedNamespaces: names(this.el.excluded.value),
    };
    let response, body;
    try {
      response = await fetch("/api/targeting", {
        method: "PUT",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(spec),
      });
      body = await response.json();
    } catch (error) {
      this.el.error.textContent = `targeting not saved: ${error.message}`;
      return;
    }
    if (!response.ok) {
      this.el.error.textContent = body.error?.message ?? `HTTP ${response.status}`;
      return;
    }
    this.show(body);
    this.close();
  }
}
